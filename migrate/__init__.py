"""wif-migrate: move GitLab CI/CD off Google service-account keys onto Workload Identity Federation."""

__version__ = "0.1.0"
