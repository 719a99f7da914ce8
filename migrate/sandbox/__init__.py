"""Local emulators of the GitLab and Google APIs the tool uses, for tests, demos and dry rehearsals.

The real clients (python-gitlab, google-api-python-client, google-auth,
google-cloud-resource-manager) talk to these servers over HTTP on 127.0.0.1. Production code
reaches them only through configuration (URLs), never through `if sandbox:` branches.
"""
