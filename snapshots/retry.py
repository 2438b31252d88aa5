"""The one backoff rule for every retried request: the registry's and the channels'.

A server's own Retry-After wins (capped); otherwise exponential backoff from base,
capped, with optional jitter so that many clients do not retry in step. The sleeping is
the caller's, so that a daemon's stop can interrupt it.
"""

from __future__ import annotations

import random


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), if any.
    urllib3's parser reads it; urllib3 loads here, with the answer that carried one, so
    that the commands that make no request do not load it (with requests, 95 ms)."""
    if not value:
        return None
    from urllib3.exceptions import InvalidHeader
    from urllib3.util.retry import Retry

    try:
        return float(Retry().parse_retry_after(value.strip()))
    except InvalidHeader:
        return None


def backoff(attempt: int, base: float, cap: float, hint: float | None = None,
            jitter: bool = False) -> float:
    """Seconds to wait before try attempt + 1 (attempt counts from 1)."""
    if hint is not None:
        return min(hint, cap)
    ceiling = min(base * 2 ** (attempt - 1), cap)
    return random.uniform(ceiling / 2, ceiling) if jitter else ceiling
