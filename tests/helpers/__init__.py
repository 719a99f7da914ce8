"""Test helpers shared across the test folders (importable: pyproject sets pytest's pythonpath to tests/)."""
