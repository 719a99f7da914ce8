"""Command line: the verb table (`verbs.py`) and one thin module per verb."""
