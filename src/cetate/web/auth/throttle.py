"""Failed logins slow down: per user name and per client address, in this process's memory.

After ``FREE`` failures in a row, each further attempt must wait twice as long as the last
(1 s, 2 s, 4 s, ... at most ``MAX_WAIT_S``), and while it waits the password is not even
checked. A success clears the user name's count, not the address's: otherwise one account an
attacker owns would reset the count between guesses at everyone else's. Each API process keeps
its own counts (a few processes multiply the allowance by a few; a guessing rate stays hopeless
against argon2 and the waits).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

FREE = 5
MAX_WAIT_S = 900.0
FORGET_S = 900.0  # a name or address with no failure for this long starts afresh
MAX_ENTRIES = 10_000  # beyond this, the stalest are forgotten: memory stays bounded


@dataclass(slots=True)
class _Failures:
    count: int
    last: float  # when the last failure was (monotonic seconds)
    until: float  # no attempt before this


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def wait_s(self, keys: Sequence[str]) -> float:
        """How long the next attempt for these keys must still wait (0: it may go ahead)."""
        now = self._clock()
        with self._lock:
            waits = [e.until - now for k in keys if (e := self._entries.get(k)) is not None]
        return max([0.0, *waits])

    def failed(self, keys: Sequence[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None or now - entry.last > FORGET_S:
                    entry = self._entries[key] = _Failures(0, now, now)
                entry.count += 1
                entry.last = now
                if entry.count >= FREE:
                    entry.until = now + min(2.0 ** (entry.count - FREE), MAX_WAIT_S)
            if len(self._entries) > MAX_ENTRIES:
                self._forget(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _forget(self, now: float) -> None:
        stale = [k for k, e in self._entries.items() if now - e.last > FORGET_S]
        for key in stale:
            del self._entries[key]
        if len(self._entries) > MAX_ENTRIES:  # still too many: keep the most recent half
            recent = sorted(self._entries.items(), key=lambda item: item[1].last)
            self._entries = dict(recent[len(recent) // 2 :])
