"""Messages to the hub in batches: map each, write the batch in one transaction, keep every
failure as a dead letter. Shared by the MQTT worker, CSV replay and dead-letter replay."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from cetate.errors import CetateError
from cetate.hub.model import Entity, now_iso, parse_entity
from cetate.hub.service import Hub
from cetate.ingest.deadletters import dead_letter, store_dead_letters
from cetate.ingest.mapping import MappingError, MappingSet

Message = tuple[str, bytes, datetime]  # topic (or source name), payload, when it arrived


@dataclass
class Counters:
    """What a worker has done since it started; read by /metrics and ``cetate ingest status``."""

    received: int = 0
    stored: int = 0
    dead_lettered: int = 0
    batches: int = 0
    lag_s: float = 0.0  # arrival to commit, of the oldest message of the last batch
    started: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, received: int, stored: int, dead: int, lag_s: float) -> None:
        with self.lock:
            self.received += received
            self.stored += stored
            self.dead_lettered += dead
            self.batches += 1
            self.lag_s = lag_s

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return {
                "received": self.received,
                "stored": self.stored,
                "deadLettered": self.dead_lettered,
                "batches": self.batches,
                "lagSeconds": round(self.lag_s, 4),
                "uptimeSeconds": round(time.time() - self.started, 1),
            }


class MessageWriter:
    def __init__(
        self,
        hub: Hub,
        mappings: MappingSet,
        tenant: str = "",
        source: str = "mqtt",
        counters: Counters | None = None,
    ) -> None:
        self.hub = hub
        self.mappings = mappings
        self.tenant = tenant
        self.source = source
        self.counters = counters or Counters()

    def write_kept(self, messages: list[Message]) -> list[str | None]:
        """As ``write``, for messages that already are dead letters (a replay): failures are
        reported, not stored again."""
        return self.write(messages, store_failures=False)

    def write(self, messages: list[Message], store_failures: bool = True) -> list[str | None]:
        """Write a batch; for each message None (stored) or the reason it was dead-lettered.
        Returns only once the hub has committed, so the caller may acknowledge then."""
        ctx = self.hub.contexts.core()
        now = now_iso()
        outcomes: list[str | None] = [None] * len(messages)
        entities: list[Entity] = []
        owners: list[int] = []
        for index, (topic, payload, received) in enumerate(messages):
            try:
                fragment = self.mappings.fragment(topic, payload, received)
                entities.append(parse_entity(fragment, ctx, now))
                owners.append(index)
            except MappingError as error:
                outcomes[index] = str(error)
            except CetateError as error:
                outcomes[index] = f"not a valid entity: {error.detail}"
        if entities:
            result = self.hub.upsert(self.tenant, entities, replace=False)
            # Outcomes are per message, in order: two messages for one entity may fare apart.
            for refused, index in zip(result.outcomes, owners, strict=True):
                if refused is not None:
                    outcomes[index] = f"refused by the hub: {refused.detail}"
        letters = [
            dead_letter(self.source, topic, payload, reason, received)
            for (topic, payload, received), reason in zip(messages, outcomes, strict=True)
            if reason is not None
        ]
        if store_failures:
            store_dead_letters(self.hub, self.tenant, letters)
        oldest = min((received for _, _, received in messages), default=None)
        lag = time.time() - oldest.timestamp() if oldest else 0.0
        self.counters.add(len(messages), len(messages) - len(letters), len(letters), lag)
        return outcomes
