"""Hub change listeners come and go on the event loop and other threads while the writer thread
publishes: none may be lost, none may miss a commit made while it is registered."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from cetate.hub.changes import Change
from cetate.hub.documents import create_documents, upsert_documents
from cetate.hub.ordering import CommitOrder
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


# -- commit order --------------------------------------------------------------------------------


def test_tickets_are_published_in_order_and_given_up_ones_are_passed() -> None:
    order = CommitOrder()
    tickets = [order.take() for _ in range(4)]
    published: list[int] = []

    def publish(ticket: int) -> threading.Thread:
        thread = threading.Thread(
            target=order.publish, args=(ticket, lambda: published.append(ticket))
        )
        thread.start()
        return thread

    late = [publish(tickets[3]), publish(tickets[2])]
    order.give_up(tickets[1])
    time.sleep(0.05)
    assert published == []  # ticket 0 is still under way
    publish(tickets[0]).join()
    for thread in late:
        thread.join(timeout=5)
    assert published == [tickets[0], tickets[2], tickets[3]]


def test_a_failing_listener_does_not_hold_up_the_next_ticket() -> None:
    order = CommitOrder()
    first, second = order.take(), order.take()

    def boom() -> None:
        raise RuntimeError("listener failed")

    with pytest.raises(RuntimeError):
        order.publish(first, boom)
    done: list[int] = []
    order.publish(second, lambda: done.append(second))
    assert done == [second]


class LastState:
    """A listener that keeps each entity's latest state, as the live map and search do."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def publish(self, tenant: str, changes: Sequence[Change]) -> None:
        for change in changes:
            self.state[change.entity_id] = change.after


def test_a_listener_keeping_state_ends_with_what_the_store_has(hub: Hub) -> None:
    """Writers on several threads (batches, the group-commit writer) write the same entities:
    what a state-keeping listener ends with is what was committed last."""
    keeper = LastState()
    hub.add_listener(keeper)
    ids = [f"urn:ngsi-ld:Thing:{n}" for n in range(3)]

    def write(writer: int) -> None:
        for step in range(40):
            value = {"type": "Property", "value": writer * 1000 + step}
            documents = [{"id": i, "type": "Thing", "n": value} for i in ids]
            assert not upsert_documents(hub, "", documents).errors

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    iri = "https://uri.etsi.org/ngsi-ld/default-context/n"
    for entity_id in ids:
        stored = hub.store.get("", entity_id)
        assert stored is not None
        kept = keeper.state[entity_id]
        assert kept["attrs"][iri][0]["value"] == stored["attrs"][iri][0]["value"]
