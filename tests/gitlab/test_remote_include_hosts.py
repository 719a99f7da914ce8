"""`include: remote:` URLs are fetched only from public hosts, unless configured (server-side
request forgery guard, `migrate/gitlab/remote.py`).

The URL is written by whoever can edit a CI file; the tool runs inside a company network next to
credentials. Like GitLab's own outbound-request guard (`Gitlab::HTTP_V2::UrlBlocker`, which refuses
loopback, private and link-local targets unless the admin allows local requests), the tool checks
every address a host resolves to, on every redirect hop, and fetches a non-public one only when
`ci.remote_include_hosts` lists the host. Cloud metadata addresses are never fetched.

A resolver is injected (no DNS in the test): the property test generates hosts resolving to
addresses of every kind and compares `refusal` with an oracle written here from `ipaddress`'s own
classification; a guard that checks only the URL's literal host (not the resolved addresses) is
shown to fail it.
"""

from __future__ import annotations

import http.server
import ipaddress
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from helpers.local_http import serving
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.config import ConfigError, parse_config
from migrate.gitlab import remote
from migrate.gitlab.remote import RemoteError, fetch_remote, refusal


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", "http://" + self.path.removeprefix("/to/"))
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok: 1\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(_Handler) as address:
        yield address


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_loopback_is_refused_by_default_and_fetched_when_listed(server: str) -> None:
    with pytest.raises(RemoteError, match="loopback address.*ci.remote_include_hosts lists 127.0.0.1"):
        fetch_remote(f"http://{server}/base.yml")
    assert fetch_remote(f"http://{server}/base.yml", allowed_hosts=[server]) == "ok: 1\n"
    assert fetch_remote(f"http://{server}/base.yml", allowed_hosts=["127.0.0.1"]) == "ok: 1\n"
    with pytest.raises(RemoteError, match="loopback"):  # another port of a host:port entry is not listed
        fetch_remote(f"http://{server}/base.yml", allowed_hosts=["127.0.0.1:1"])


def test_a_redirect_to_a_refused_host_is_refused(server: str) -> None:
    """A listed host that redirects to the metadata server (or any unlisted private host)."""
    with pytest.raises(RemoteError, match="redirected; .*metadata"):
        fetch_remote(f"http://{server}/to/169.254.169.254/computeMetadata/v1/", allowed_hosts=[server])
    with pytest.raises(RemoteError, match="redirected; .*10.1.2.3.*private"):
        fetch_remote(f"http://{server}/to/10.1.2.3/x.yml", allowed_hosts=[server])


@pytest.mark.parametrize(("url", "addresses", "why"), [
    ("http://169.254.169.254/computeMetadata/v1/", None, "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", ["169.254.169.254"], "metadata"),
    ("http://ci.example.com/x.yml", ["10.0.0.8"], "private"),
    ("http://ci.example.com/x.yml", ["93.184.216.34", "192.168.1.1"], "private"),  # any address counts
    ("http://[::1]/x.yml", None, "loopback"),
    ("http://[::ffff:127.0.0.1]/x.yml", None, "loopback"),
    ("http://ci.example.com/x.yml", ["fe80::1"], "link-local"),
    ("http://ci.example.com/x.yml", ["100.64.0.1"], "non-public"),  # shared address space
    ("http://0.0.0.0/x.yml", None, "unspecified"),
])
def test_non_public_targets_are_refused(url: str, addresses: list[str] | None, why: str) -> None:
    assert why in (refusal(url, (), lambda host, port: addresses or []) or "")


def test_metadata_is_refused_even_when_listed() -> None:
    assert "metadata" in (refusal("http://169.254.169.254/", ["169.254.169.254"]) or "")
    assert "metadata" in (refusal("http://md.example/", ["md.example"], lambda h, p: ["169.254.169.254"]) or "")


def test_public_hosts_are_fetched_without_configuration() -> None:
    assert refusal("https://gitlab.com/x.yml", (), lambda host, port: ["172.65.251.78"]) is None


def test_an_unresolvable_host_is_a_reason_unless_listed() -> None:
    """A listed host may be reachable only through the configured proxy, which resolves it."""
    def fail(host: str, port: int) -> Sequence[str]:
        raise OSError("no such host")

    assert "could not be resolved" in (refusal("http://ci.internal/x.yml", (), fail) or "")
    assert refusal("http://ci.internal/x.yml", ["ci.internal"], fail) is None


def test_the_config_key_is_validated_and_documented() -> None:
    base = {"gitlab": {"url": "https://gitlab.example.com"}, "scope": {"groups": ["g"]},
            "google": {"identity_project": "p"}}
    config = parse_config({**base, "ci": {"remote_include_hosts": ["CI.example.com:8443", "[::1]:80"]}})
    assert config.ci.remote_include_hosts == ("ci.example.com:8443", "[::1]:80")
    assert parse_config(base).ci.remote_include_hosts == ()
    for bad in ("http://ci.example.com", "ci.example.com/path", "*.example.com", ""):
        with pytest.raises(ConfigError, match=r"ci.remote_include_hosts\[0\]"):
            parse_config({**base, "ci": {"remote_include_hosts": [bad]}})
    from pathlib import Path
    example = (Path(__file__).resolve().parents[2] / "config.example.yaml").read_text(encoding="utf-8")
    assert "remote_include_hosts" in example


# -- generated: the resolved addresses decide, the listed hosts allow ---------------------------

ADDRESSES = ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "127.0.0.1", "10.1.2.3", "172.16.5.4",
             "192.168.0.10", "169.254.10.1", "169.254.169.254", "100.64.1.1", "::1", "fe80::2", "fc00::5",
             "224.0.0.1", "0.0.0.0", "::ffff:10.0.0.1", "fd00:ec2::254", "198.18.0.1"]


def oracle(addresses: Sequence[str], listed: bool) -> bool:
    """Fetched iff no address is a metadata one and (listed, or every address is global unicast)."""
    parsed = [ipaddress.ip_address(a) for a in addresses]
    parsed = [getattr(a, "ipv4_mapped", None) or a for a in parsed]
    if any(str(a) in ("169.254.169.254", "fd00:ec2::254") for a in parsed):
        return False
    return listed or all(a.is_global and not a.is_multicast for a in parsed)


def literal_only(url: str, allowed: Sequence[str] = (), resolve: Any = None) -> str | None:
    """A broken guard: checks the URL's host only when it is an IP literal (never resolves names)."""
    host = url.split("//", 1)[1].split("/", 1)[0].split(":", 1)[0]
    try:
        return None if ipaddress.ip_address(host).is_global else "refused"
    except ValueError:
        return None


def verdicts_differ(guard: Any, addresses: list[str], listed: bool) -> bool:
    allowed = ["ci.example.com"] if listed else []
    fetched = guard("http://ci.example.com/x.yml", allowed, lambda host, port: addresses) is None
    return fetched != oracle(addresses, listed)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=4), st.booleans())
def test_generated_resolutions_agree_with_the_oracle(addresses: list[str], listed: bool) -> None:
    assert not verdicts_differ(refusal, addresses, listed)


def test_the_oracle_catches_a_guard_that_does_not_resolve() -> None:
    assert verdicts_differ(literal_only, ["10.1.2.3"], False)
    assert verdicts_differ(literal_only, ["127.0.0.1"], False)
    assert remote.METADATA_ADDRESSES  # the constant the guard and the docs name
