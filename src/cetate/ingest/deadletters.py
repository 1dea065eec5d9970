"""Dead letters: messages that could not become entities, kept in the hub with the reason, the
source and the time, so nothing is dropped silently. They can be listed, inspected, replayed
(after the mapping or the device is fixed) and deleted, from the CLI and the API."""

from __future__ import annotations

import base64
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cetate.hub.documents import (
    count_documents,
    delete_documents,
    find_documents,
    get_document,
    upsert_documents,
)
from cetate.hub.model import format_time, parse_time
from cetate.hub.service import Hub

DEAD_LETTER_TYPE = "cetate:DeadLetter"
KEPT_PAYLOAD_BYTES = 256 * 1024  # an oversized payload keeps its first part, and says so


@dataclass(frozen=True)
class DeadLetter:
    id: str
    source: str  # "mqtt", "replay", ...
    topic: str
    payload: bytes
    reason: str
    received_at: datetime
    truncated: bool = False

    def document(self) -> dict[str, Any]:
        text, encoding = self.payload_text()
        return {
            "id": self.id,
            "type": DEAD_LETTER_TYPE,
            "source": _property(self.source),
            "topic": _property(self.topic),
            "payload": _property(text),
            "payloadEncoding": _property(encoding),
            "truncated": _property(self.truncated),
            "reason": _property(self.reason),
            "receivedAt": _property(format_time(self.received_at)),
        }

    def payload_text(self) -> tuple[str, str]:
        """The payload as text when it is UTF-8, else as base64; and which of the two."""
        try:
            return self.payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return base64.b64encode(self.payload).decode(), "base64"

    def view(self) -> dict[str, Any]:
        """What the API and CLI show: the payload as text when it is text."""
        payload, encoding = self.payload_text()
        return {
            "id": self.id,
            "source": self.source,
            "topic": self.topic,
            "reason": self.reason,
            "receivedAt": format_time(self.received_at),
            "payload": payload,
            "payloadEncoding": encoding,
            "truncated": self.truncated,
        }


_sequence = itertools.count()


def dead_letter(source: str, topic: str, payload: bytes, reason: str, at: datetime) -> DeadLetter:
    kept = payload[:KEPT_PAYLOAD_BYTES]
    # Ids sort in the order letters were made (time, then a counter), so a list shows them as
    # they came even when a batch gives several the same arrival time.
    order = f"{time.time_ns():016x}{next(_sequence) % 0xFFFF:04x}"
    return DeadLetter(
        id=f"urn:ngsi-ld:DeadLetter:{order}-{uuid.uuid4().hex[:8]}",
        source=source,
        topic=topic,
        payload=kept,
        reason=reason,
        received_at=at,
        truncated=len(kept) < len(payload),
    )


def store_dead_letters(hub: Hub, tenant: str, letters: list[DeadLetter]) -> None:
    if letters:
        upsert_documents(hub, tenant, [letter.document() for letter in letters], replace=True)


def list_dead_letters(hub: Hub, tenant: str = "", limit: int = 1000) -> list[DeadLetter]:
    letters = [from_document(d) for d in find_documents(hub, tenant, DEAD_LETTER_TYPE, limit)]
    return sorted(letters, key=lambda letter: (letter.received_at, letter.id))


def count_dead_letters(hub: Hub, tenant: str = "") -> int:
    return count_documents(hub, tenant, DEAD_LETTER_TYPE)


def get_dead_letter(hub: Hub, tenant: str, letter_id: str) -> DeadLetter | None:
    document = get_document(hub, tenant, letter_id)
    if document is None or document.get("type") != DEAD_LETTER_TYPE:
        return None
    return from_document(document)


def replay(
    hub: Hub,
    tenant: str,
    letters: list[DeadLetter],
    write: Callable[[list[tuple[str, bytes, datetime]]], list[str | None]],
) -> tuple[list[str], list[tuple[str, str]]]:
    """Send dead letters through ``write`` again (the mapping and the hub, as when they came);
    those that now succeed are deleted, the others stay with their new reason. ``write`` takes
    (topic, payload, received) triples and returns, for each, None or the reason it failed."""
    outcomes = write([(letter.topic, letter.payload, letter.received_at) for letter in letters])
    pairs = list(zip(letters, outcomes, strict=True))
    done = [letter.id for letter, reason in pairs if reason is None]
    if done:
        delete_documents(hub, tenant, done)
    still = [replace(letter, reason=reason) for letter, reason in pairs if reason is not None]
    store_dead_letters(hub, tenant, still)
    return done, [(letter.id, letter.reason) for letter in still]


def from_document(document: dict[str, Any]) -> DeadLetter:
    text = str(document.get("payload", ""))
    payload = (
        base64.b64decode(text) if document.get("payloadEncoding") == "base64" else text.encode()
    )
    return DeadLetter(
        id=document["id"],
        source=str(document.get("source", "")),
        topic=str(document.get("topic", "")),
        payload=payload,
        reason=str(document.get("reason", "")),
        received_at=parse_time(document.get("receivedAt"), "receivedAt"),
        truncated=bool(document.get("truncated", False)),
    )


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}
