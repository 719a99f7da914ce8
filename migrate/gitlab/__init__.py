"""The only code that talks to GitLab (python-gitlab over HTTP).

- `client.GitLabClients`: per-thread `gitlab.Gitlab` objects sharing one rate limiter and counters.
- `ratelimit.RateLimiter`: client-side pacing at `rate_limit_rpm`, global pause on `Retry-After`.
- `read.GitLabReader`: scope walk, variables (values reduced to key identities), raw files, version.
- `types`: the small records those operations return, and `ReadError`.
"""
