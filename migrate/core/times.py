"""RFC 3339 times: parse what GitLab and Google send into aware UTC datetimes, and print them back."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    """RFC 3339 (`Z` or offset, optional fraction, nanoseconds tolerated) → aware UTC datetime."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # Google may send 9 fractional digits; Python reads at most 6
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        rest = tail[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
