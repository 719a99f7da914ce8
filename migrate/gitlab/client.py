"""python-gitlab clients, one per worker thread, all paced by one shared rate limiter.

Why per thread: python-gitlab keeps a `requests.Session` and retries inside `http_request`;
sessions are not documented as thread-safe, so each worker thread gets its own `gitlab.Gitlab`
(with its own connection pool). They share one `RateLimiter` and one `RequestStats`, through a
`requests.Session` subclass that every `gitlab.Gitlab` is given (python-gitlab passes a `session=`
keyword to its requests backend).

Retries: python-gitlab retries 429 itself (sleeping `Retry-After`); with
`retry_transient_errors=True` it also retries 5xx, timeouts and dropped connections with
exponential back-off. We add the *global* part: a 429 pauses every thread (see ratelimit.py).

Nothing is built at import time; `GitLabClients(...)` builds nothing until `gl()` is first called
on a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import gitlab
import requests

from migrate import __version__
from migrate.core.config import Config, GitLabConfig
from migrate.gitlab.ratelimit import RateLimiter, RequestStats, retry_after_seconds

log = logging.getLogger(__name__)

USER_AGENT = f"wif-migrate/{__version__} (python-gitlab {gitlab.__version__})"
DEFAULT_TIMEOUT_S = 60.0
# A 429 without Retry-After (should not happen on GitLab, but proxies do it): back off this long.
DEFAULT_429_PAUSE_S = 1.0
RATE_HEADROOM = 0.98
MAX_429_RESENDS = 30  # then python-gitlab's own 429 handling (10 more) applies


class RetryNotice:
    """Retries are visible: a warning on stderr when GitLab answers 429 / 5xx or a request fails
    in transit (python-gitlab then retries it), at most one per `every` seconds with the count so
    far, so a throttled run of thousands of requests says so without a line per request."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._count = 0
        self._shown_at: float | None = None

    def note(self, what: str) -> None:
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if self._shown_at is not None and now - self._shown_at < self.every:
                return
            self._shown_at = now
            count = self._count
        log.warning("GitLab: %s; retrying (%d retryable answer(s) so far this run)", what, count)


class LimitedSession(requests.Session):
    """A requests Session that waits for the rate limiter before each request and counts answers."""

    def __init__(self, limiter: RateLimiter | None, stats: RequestStats, notice: RetryNotice | None = None) -> None:
        super().__init__()
        self.limiter = limiter
        self.stats = stats
        self.notice = notice or RetryNotice()
        self._env_settings: dict[tuple[Any, ...], Any] = {}

    def merge_environment_settings(self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        """requests' own merge, with what it reads from the environment (proxies, `no_proxy`, the
        CA bundle) read once per origin and arguments instead of on every request: it walks all of
        `os.environ` each time, ~15 % of a request's CPU against a local GitLab, and runs of
        thousands of reads spend seconds on it (issue 18). The process environment is fixed for a
        run; a session lives for one command."""
        from urllib.parse import urlsplit

        parts = urlsplit(url.decode() if isinstance(url, bytes) else str(url or ""))
        key = (parts.scheme, parts.netloc, repr(sorted((proxies or {}).items())), stream, repr(verify), repr(cert))
        hit: Any = self._env_settings.get(key)
        if hit is None:
            hit = self._env_settings[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {**hit, "proxies": dict(hit["proxies"])}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        # A 429 means "not processed, come back later": never an answer for the caller. Resend
        # here (after the global pause) so throttling does not eat python-gitlab's retry budget,
        # which is then left for 5xx and dropped connections. Streamed bodies cannot be resent.
        resendable = not hasattr(kwargs.get("data"), "read")
        for attempt in range(MAX_429_RESENDS + 1):
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                response = super().request(method, url, *args, **kwargs)
            except requests.RequestException as exc:
                self.stats.record(None)
                if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
                    self.notice.note(f"{method!s} {_path(url)} failed in transit ({type(exc).__name__})")
                raise
            self.stats.record(response.status_code)
            if response.status_code in (429, 500, 502, 503, 504):
                self.notice.note(f"{method!s} {_path(url)} answered {response.status_code}")
            if response.status_code not in (429, 503):
                return response
            pause = retry_after_seconds(response.headers.get("Retry-After"))
            if pause is None and response.status_code == 429:
                pause = DEFAULT_429_PAUSE_S
            if pause and self.limiter is not None:
                log.info("GitLab asked us to slow down (%s, Retry-After %.1fs); pausing all workers",
                         response.status_code, pause)
                self.limiter.pause(pause)
            if response.status_code != 429 or not resendable or attempt == MAX_429_RESENDS:
                return response  # 503: python-gitlab's transient-error retry decides
            if self.limiter is None and pause:
                time.sleep(pause)
            response.close()
        return response


def _path(url: str | bytes) -> str:
    """The URL's path only (no query string: it may carry search terms, never a token, but stay terse)."""
    from urllib.parse import urlsplit

    return urlsplit(url.decode() if isinstance(url, bytes) else url).path


class GitLabClients:
    """Factory of per-thread `gitlab.Gitlab` objects sharing one limiter and one set of counters.

    `rate_limit_rpm=None` disables client-side pacing (python-gitlab still obeys 429s).
    Other modules (merge requests, pipelines) should reuse one instance per command run.
    """

    def __init__(self, config: GitLabConfig, rate_limit_rpm: float | None = 1800, *,
                 token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_retries: int = 10, remote_include_hosts: tuple[str, ...] = ()) -> None:
        self.config = config
        self.remote_include_hosts = remote_include_hosts  # config `ci.remote_include_hosts` (gitlab/remote.py)
        self.url = config.url.rstrip("/")
        self._token = token  # None: read config.gitlab.token_env lazily on first use
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        # Pace slightly under the limit: GitLab counts in a sliding one-minute window at *arrival*,
        # and network jitter can bunch evenly spaced starts; 2% headroom absorbs ~1 s of jitter.
        self.limiter = RateLimiter(rate_limit_rpm * RATE_HEADROOM) if rate_limit_rpm else None
        self.stats = RequestStats()
        self.notice = RetryNotice()  # one per run: the throttle of retry warnings is shared by all threads
        self._local = threading.local()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> GitLabClients:
        return cls(config.gitlab, config.rate_limit_rpm, remote_include_hosts=config.ci.remote_include_hosts)

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self.config.token()
            return self._token

    def gl(self) -> gitlab.Gitlab:
        """This thread's client (built on first use)."""
        client: gitlab.Gitlab | None = getattr(self._local, "gl", None)
        if client is None:
            client = gitlab.Gitlab(
                self.url,
                private_token=self.token(),
                ssl_verify=self.config.ssl_verify,
                timeout=self.timeout_s,
                per_page=100,
                retry_transient_errors=True,
                user_agent=USER_AGENT,
                session=LimitedSession(self.limiter, self.stats, self.notice),
            )
            self._local.gl = client
            log.debug("built GitLab client for thread %s", threading.current_thread().name)
        return client

    def close(self) -> None:
        """Close this thread's session (other threads' sessions close when they are collected)."""
        client: gitlab.Gitlab | None = getattr(self._local, "gl", None)
        if client is not None:
            client.session.close()
            self._local.gl = None
