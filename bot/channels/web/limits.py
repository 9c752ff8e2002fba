"""How often a key (a session, an address) may do something: per minute, or per hour."""

import datetime as dt
from collections import deque

HOUR = dt.timedelta(hours=1)
MAX_KEYS = 50_000  # forget idle keys past this many rather than grow without end


class RateLimit:
    """At most `per_minute` requests per key, refilled continuously (a token bucket); `now`
    is in seconds of a monotonic clock (time is an input)."""

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float) -> bool:
        """Take one request from the key's allowance; False when it is used up."""
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if len(self._buckets) > MAX_KEYS:
            self._buckets.clear()
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True


class HourlyCap:
    """At most `per_hour` uses per key in any hour, by the app's clock (time is an input)."""

    def __init__(self, per_hour: int) -> None:
        self._per_hour = per_hour
        self._uses: dict[str, deque[dt.datetime]] = {}

    def full(self, key: str, now: dt.datetime) -> bool:
        """Whether the key has used up its hour."""
        uses = self._uses.get(key)
        while uses and uses[0] <= now - HOUR:
            uses.popleft()
        return uses is not None and len(uses) >= self._per_hour

    def take(self, key: str, now: dt.datetime) -> None:
        """Count one use of the key."""
        if len(self._uses) > MAX_KEYS:
            self._uses = {k: v for k, v in self._uses.items() if v and v[-1] > now - HOUR}
        self._uses.setdefault(key, deque()).append(now)
