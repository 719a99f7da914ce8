"""The sandbox Google: IAM, IAM Credentials, STS, OAuth2, Resource Manager and Policy Analyzer
emulated on one port for the real Google clients. See `app.GoogleApp` and docs/sandbox.md."""

from migrate.sandbox.google.app import GoogleApp

__all__ = ["GoogleApp"]
