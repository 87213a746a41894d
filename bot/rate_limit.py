"""Per-user question rate limit for the bot (a sliding 60-second window)."""

from __future__ import annotations

import collections
import time

PRUNE_ABOVE = 10_000  # users remembered before those idle for a minute are forgotten (memory stays bounded)


class UserRateLimit:
    """At most ``per_minute`` questions per user in any 60 s; one warning per window."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._times: dict[int, collections.deque[float]] = {}
        self._warned: dict[int, float] = {}

    def check(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, warn): warn is True for the first refusal in a window only."""
        if self.per_minute <= 0:
            return True, False
        now = self.clock()
        if len(self._times) > PRUNE_ABOVE:
            self._prune(now)
        times = self._times.setdefault(user_id, collections.deque())
        while times and now - times[0] >= 60:
            times.popleft()
        if len(times) < self.per_minute:
            times.append(now)
            self._warned.pop(user_id, None)
            return True, False
        warned_at = self._warned.get(user_id)
        if warned_at is not None and now - warned_at < 60:
            return False, False
        self._warned[user_id] = now
        return False, True

    def _prune(self, now: float) -> None:
        """Forget the users with no reply and no warning in the last 60 s: a flood of new user ids
        keeps the record to the users active this minute."""
        for user_id in [u for u, times in self._times.items() if not times or now - times[-1] >= 60]:
            if now - self._warned.get(user_id, -1e18) >= 60:
                del self._times[user_id]
                self._warned.pop(user_id, None)
