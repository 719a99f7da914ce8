"""`include: remote: <URL>` files, fetched as GitLab fetches them (`lib/gitlab/ci/config/external/file/remote.rb`).

GitLab GETs the URL (only `http`/`https`; `validate_location!`) and uses the body as the included
file; an error or a non-200 answer makes the pipeline fail ("Remote file could not be fetched").
We read it the same way, from the machine running the tool, with bounds: a timeout, the CI file
size limit (`migrate.ci.limits.MAX_BYTES`) read as a stream, no redirects to other schemes, and
*no credentials*: the session ignores `~/.netrc` and sends no GitLab or Google token (a remote URL
is named by the CI file, not trusted). Proxies from the environment still apply. What cannot be
read is a reason (the dependent keyed job then goes to manual review), never a guess.
"""

from __future__ import annotations

import re

import requests

MAX_BYTES = 1024 * 1024  # as migrate.ci.limits.MAX_BYTES: a larger CI file is refused anyway
TIMEOUT_S = 10.0  # remote.rb uses Gitlab::HTTP's default timeouts (tens of seconds); we stay shorter
SCHEME = re.compile(r"^https?://", re.I)


class RemoteError(Exception):
    """A remote include that could not be read; the message says why."""


def fetch_remote(url: str, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BYTES) -> str:
    """The text at `url` (raises RemoteError with the reason)."""
    if not SCHEME.match(url) or any(ch.isspace() for ch in url):
        raise RemoteError(f"remote include {url}: only http and https URLs are fetched")
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials
    proxies = requests.utils.get_environ_proxies(url)
    try:
        with session.get(url, timeout=timeout, stream=True, allow_redirects=True, proxies=proxies,
                         headers={"Accept": "text/plain, application/x-yaml, */*"}) as response:
            if not SCHEME.match(response.url):
                raise RemoteError(f"remote include {url}: redirected to a non-HTTP URL")
            if response.status_code != 200:
                raise RemoteError(f"remote include {url}: HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) > max_bytes:
                    raise RemoteError(f"remote include {url}: larger than {max_bytes} bytes")
    except requests.RequestException as exc:
        raise RemoteError(f"remote include {url}: could not be fetched ({type(exc).__name__})") from None
    finally:
        session.close()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteError(f"remote include {url}: not UTF-8 text") from None
