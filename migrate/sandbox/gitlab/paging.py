"""GitLab's two pagination styles (doc/api/rest/_index.md#pagination).

Offset: `page` and `per_page` (default 20, at most 100) with `X-Page`, `X-Per-Page`, `X-Total`,
`X-Total-Pages`, `X-Next-Page`, `X-Prev-Page` (empty when there is none) and a `Link` header with
`prev`/`next`/`first`/`last`. Past 10,000 records GitLab leaves out `X-Total`, `X-Total-Pages`
and `rel="last"` for performance, and so do we.

Keyset: `pagination=keyset` with `order_by=id` (and `sort`), only where GitLab offers it
(`GET /projects`); the `Link rel="next"` URL carries `id_after`/`id_before` and there are no
totals.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from migrate.sandbox.http import Request, Response

T = TypeVar("T")
TOTALS_LIMIT = 10_000
# lib/api/helpers/pagination_strategies.rb: for types keyset pagination serves (projects),
# `page * per_page > offset_pagination_limit` (50,000 by default) is refused with 405.
OFFSET_LIMIT = 50_000


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def per_page(req: Request) -> int:
    return max(1, min(100, _int(req.arg("per_page"), 20)))


def _url(base_url: str, req: Request, **changes: Any) -> str:
    query = {k: v[-1] for k, v in req.query.items()}
    query.update({k: str(v) for k, v in changes.items()})
    return f"{base_url}{req.raw_path}?{urlencode(query)}"


def offset_page(req: Request, base_url: str, items: Sequence[T],
                render: Callable[[T], Any], limited_type: str | None = None) -> Response:
    """One page of `items` as a JSON list with GitLab's offset-pagination headers.
    `limited_type` (e.g. "Project"): the type has keyset pagination, so offsets past
    OFFSET_LIMIT answer GitLab's 405."""
    size = per_page(req)
    page = max(1, _int(req.arg("page"), 1))
    if limited_type and page * size > OFFSET_LIMIT:
        return Response.json({"error": f"Offset pagination has a maximum allowed offset of {OFFSET_LIMIT} "
                                       f"for requests that return objects of type {limited_type}. "
                                       "Remaining records can be retrieved using keyset pagination."},
                             status=405)
    total = len(items)
    pages = max(1, -(-total // size))
    chunk = items[(page - 1) * size: page * size]
    headers = {"X-Page": str(page), "X-Per-Page": str(size),
               "X-Next-Page": str(page + 1) if page < pages else "",
               "X-Prev-Page": str(page - 1) if page > 1 and page - 1 <= pages else ""}
    links = []
    if headers["X-Prev-Page"]:
        links.append(f'<{_url(base_url, req, page=page - 1, per_page=size)}>; rel="prev"')
    if headers["X-Next-Page"]:
        links.append(f'<{_url(base_url, req, page=page + 1, per_page=size)}>; rel="next"')
    links.append(f'<{_url(base_url, req, page=1, per_page=size)}>; rel="first"')
    if total <= TOTALS_LIMIT:
        headers["X-Total"] = str(total)
        headers["X-Total-Pages"] = str(pages)
        links.append(f'<{_url(base_url, req, page=pages, per_page=size)}>; rel="last"')
    headers["Link"] = ", ".join(links)
    return Response.json([render(i) for i in chunk], headers=headers)


def keyset_page(req: Request, base_url: str, items: Sequence[T], key: Callable[[T], int],
                render: Callable[[T], Any]) -> Response:
    """Keyset pagination by id: `items` sorted ascending by `key`; honours `sort` and the cursor."""
    size = per_page(req)
    desc = (req.arg("sort") or "asc").lower() == "desc"
    keys = [key(i) for i in items]
    after, before = req.arg("id_after"), req.arg("id_before")
    lo = bisect.bisect_right(keys, _int(after, 0)) if after is not None else 0
    hi = bisect.bisect_left(keys, _int(before, 0)) if before is not None else len(items)
    window = items[lo:hi]
    ordered = window[::-1][: size + 1] if desc else window[: size + 1]
    chunk = ordered[:size]
    headers: dict[str, str] = {}
    if len(ordered) > size:
        cursor = {"id_before": key(chunk[-1])} if desc else {"id_after": key(chunk[-1])}
        query = {k: v[-1] for k, v in req.query.items() if k not in ("id_after", "id_before")}
        query.update({k: str(v) for k, v in cursor.items()})
        headers["Link"] = f'<{base_url}{req.raw_path}?{urlencode(query)}>; rel="next"'
    return Response.json([render(i) for i in chunk], headers=headers)


def paginate(req: Request, base_url: str, items: Sequence[T], render: Callable[[T], Any]) -> Response:
    return offset_page(req, base_url, items, render)
