"""Hub change listeners come and go on the event loop and other threads while the writer thread
publishes: none may be lost, none may miss a commit made while it is registered."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cetate.hub.changes import Change
from cetate.hub.documents import create_documents
from cetate.hub.service import Hub


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def publish(self, tenant: str, changes: Sequence[Change]) -> None:
        self.seen.extend(change.entity_id for change in changes)


def test_concurrent_add_and_remove_keep_every_listener(hub: Hub) -> None:
    stays = [Recorder() for _ in range(8)]
    churn = [Recorder() for _ in range(8)]
    start = threading.Barrier(len(stays) + len(churn))

    def add(listener: Recorder) -> None:
        start.wait()
        hub.add_listener(listener)

    def flap(listener: Recorder) -> None:
        start.wait()
        for _ in range(500):
            hub.add_listener(listener)
            hub.remove_listener(listener)

    threads = [threading.Thread(target=add, args=(x,)) for x in stays]
    threads += [threading.Thread(target=flap, args=(x,)) for x in churn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(map(id, hub.listeners)) == set(map(id, stays))


def test_adding_twice_publishes_once_and_removed_hears_nothing(hub: Hub) -> None:
    kept, dropped = Recorder(), Recorder()
    hub.add_listener(kept)
    hub.add_listener(kept)
    hub.add_listener(dropped)
    hub.remove_listener(dropped)
    document = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing", "n": {"type": "Property", "value": 1}}

    create_documents(hub, "", [document])

    assert kept.seen == ["urn:ngsi-ld:Thing:1"]
    assert dropped.seen == []
