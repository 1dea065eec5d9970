"""Committed changes published in the order they were committed.

Writes commit on several threads (the group-commit writer, batch requests, the ingest
worker), each publishing its changes to the hub's listeners when its transaction ends. Two
threads that wrote the same entity could publish in the other order, and a listener that keeps
state (the live map, search) would keep the older one. So each transaction takes a ticket
while it holds its entities (inside the store's mutation: conflicting transactions take theirs
one after the other, in commit order) and publishes when every earlier ticket has been
published or given up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class CommitOrder:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._issued = 0
        self._turn = 0  # the ticket whose publication is due
        self._given_up: set[int] = set()

    def take(self) -> int:
        with self._changed:
            ticket = self._issued
            self._issued += 1
            return ticket

    def publish(self, ticket: int, deliver: Callable[[], None]) -> None:
        """Run ``deliver`` once every earlier ticket is done; the ticket is done after it,
        whatever it raises."""
        with self._changed:
            while self._turn != ticket:
                self._changed.wait()
        # Out of the lock: only this ticket's holder may run now, and new transactions take
        # their tickets meanwhile.
        try:
            deliver()
        finally:
            with self._changed:
                self._advance()

    def give_up(self, ticket: int) -> None:
        """A ticket whose transaction did not commit (or ran again under a new ticket)."""
        with self._changed:
            if ticket == self._turn:
                self._advance()
            else:
                self._given_up.add(ticket)

    def _advance(self) -> None:
        self._turn += 1
        while self._turn in self._given_up:
            self._given_up.remove(self._turn)
            self._turn += 1
        self._changed.notify_all()
