"""The Google adapter: the only code that talks to Google (IAM, Resource Manager, Policy Analyzer, STS, IAM Credentials)."""
