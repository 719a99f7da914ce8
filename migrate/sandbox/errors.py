"""The sandbox's own error: an org description it cannot build (the message names the key).

The sandbox imports nothing of the tool (it emulates GitLab and Google independently), so it has its
own error type; the `sandbox` and `demo` verbs turn it into the tool's usage error (exit 2).
"""

from __future__ import annotations


class OrgFileError(Exception):
    """The org description file is malformed; the message names the key and what is wrong."""
