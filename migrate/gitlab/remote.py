"""`include: remote: <URL>` files, fetched as GitLab fetches them (`lib/gitlab/ci/config/external/file/remote.rb`).

GitLab GETs the URL (only `http`/`https`; `validate_location!`) and uses the body as the included
file; an error or a non-200 answer makes the pipeline fail ("Remote file could not be fetched").
We read it the same way, from the machine running the tool, with bounds: a timeout, the CI file
size limit (`migrate.ci.limits.MAX_BYTES`) read as a stream, no redirects to other schemes, and
*no credentials*: the session ignores `~/.netrc` and sends no GitLab or Google token (a remote URL
is named by the CI file, not trusted). Proxies from the environment still apply. What cannot be
read is a reason (the dependent keyed job then goes to manual review), never a guess.

Where the tool may connect. The URL is written by whoever can edit a CI file, and the tool runs
inside a company network next to credentials: fetching it blindly is a server-side request forgery
(the cloud metadata server, an admin interface on localhost, an intranet host). So, like GitLab's
own outbound-request guard (`Gitlab::HTTP_V2::UrlBlocker`: loopback, private, link-local and
shared addresses refused unless allowed in the admin settings), every URL and every redirect hop
is checked *after name resolution*: each address the host resolves to must be public
(`ipaddress.is_global`), unless the host is listed in the configuration's
`ci.remote_include_hosts` (`host` or `host:port`). The metadata addresses (`169.254.169.254`,
`fd00:ec2::254`) and `metadata.google.internal` are refused even when listed. Redirects are followed
here (at most 5), one checked hop at a time. A listed host that does not resolve here is tried
anyway (a proxy may resolve it). Not closed: the connection resolves the name again, so a DNS answer
that changes between the check and the connection (rebinding) is not caught; a proxy, when
configured, resolves on its own.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urljoin, urlsplit

import requests

MAX_BYTES = 1024 * 1024  # as migrate.ci.limits.MAX_BYTES: a larger CI file is refused anyway
TIMEOUT_S = 10.0  # remote.rb uses Gitlab::HTTP's default timeouts (tens of seconds); we stay shorter
MAX_REDIRECTS = 5
SCHEME = re.compile(r"^https?://", re.I)
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata"})

Resolver = Callable[[str, int], Sequence[str]]  # (host, port) -> addresses


class RemoteError(Exception):
    """A remote include that could not be read; the message says why."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver, as the connection will use)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def refusal(url: str, allowed_hosts: Sequence[str] = (), resolve: Resolver = resolve_host) -> str | None:
    """Why the tool does not connect to `url` (None: it may): the host must resolve to public
    addresses only, or be listed in `allowed_hosts` (`host` or `host:port`, case-insensitive)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return f"remote include {url}: no host"
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return f"remote include {url}: not a valid port"
    if host in METADATA_NAMES:
        return f"remote include {url}: {host} is a cloud metadata server; never fetched"
    listed = {entry.strip().rstrip(".").lower() for entry in allowed_hosts}
    allowed = host in listed or f"{host}:{port}" in listed or f"[{host}]:{port}" in listed
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
        except (OSError, UnicodeError, ValueError):
            # a listed host may resolve only through the configured proxy; any other must resolve here
            return None if allowed else f"remote include {url}: host {host} could not be resolved"
    if not addresses:
        return f"remote include {url}: host {host} could not be resolved"
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None) or address
        if mapped in METADATA_ADDRESSES:
            return f"remote include {url}: {host} resolves to {mapped}, a cloud metadata address; never fetched"
        if not allowed and (not mapped.is_global or mapped.is_multicast):
            return (f"remote include {url}: {host} resolves to {mapped}, a {_kind(mapped)} address, which "
                    f"this tool does not fetch unless ci.remote_include_hosts lists {host} (server-side "
                    "request forgery guard)")
    return None


def _kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    for name in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{name}", False):
            return name.replace("_", "-")
    return "non-public"


def fetch_remote(url: str, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BYTES,
                 allowed_hosts: Sequence[str] = (), resolve: Resolver = resolve_host) -> str:
    """The text at `url` (raises RemoteError with the reason)."""
    if not SCHEME.match(url) or any(ch.isspace() for ch in url):
        raise RemoteError(f"remote include {url}: only http and https URLs are fetched")
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials
    current = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            why = refusal(current, allowed_hosts, resolve)
            if why is not None:
                raise RemoteError(why if current == url else f"remote include {url}: redirected; {why}")
            proxies = requests.utils.get_environ_proxies(current)
            with session.get(current, timeout=timeout, stream=True, allow_redirects=False, proxies=proxies,
                             headers={"Accept": "text/plain, application/x-yaml, */*"}) as response:
                if response.is_redirect:
                    current = urljoin(current, response.headers.get("Location", ""))
                    if not SCHEME.match(current):
                        raise RemoteError(f"remote include {url}: redirected to a non-HTTP URL")
                    continue
                if response.status_code != 200:
                    raise RemoteError(f"remote include {url}: HTTP {response.status_code}")
                body = b""
                for chunk in response.iter_content(65536):
                    body += chunk
                    if len(body) > max_bytes:
                        raise RemoteError(f"remote include {url}: larger than {max_bytes} bytes")
                break
        else:
            raise RemoteError(f"remote include {url}: more than {MAX_REDIRECTS} redirects")
    except requests.RequestException as exc:
        raise RemoteError(f"remote include {url}: could not be fetched ({type(exc).__name__})") from None
    finally:
        session.close()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteError(f"remote include {url}: not UTF-8 text") from None
