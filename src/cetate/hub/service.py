"""The hub's operations, shared by the API, the CLI and the city modules.

A ``Hub`` joins a store, the @context resolver and the notifier. Its methods take already parsed
entities (``cetate.hub.model``) and return plain results; they run in one store transaction each
and hand what changed to the notifier after the commit, off the write path.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from cetate.config import Settings
from cetate.errors import CetateError, ResourceNotFound
from cetate.hub import changes
from cetate.hub.changes import Change
from cetate.hub.context import ContextResolver
from cetate.hub.model import Entity
from cetate.hub.ordering import CommitOrder
from cetate.hub.store import open_store
from cetate.hub.store.base import Mutation, Store


class ChangeListener(Protocol):
    def publish(self, tenant: str, changes: Sequence[Change]) -> None: ...


@dataclass(slots=True)
class BatchResult:
    """Per-entity outcome of a batch: ids that succeeded, and an error for each that did not."""

    success: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    errors: list[tuple[str, CetateError]] = field(default_factory=list)
    # One per entity given to the batch, in order: None or its error (an id may come twice).
    outcomes: list[CetateError | None] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "errors": [
                {"entityId": entity_id, "error": error.problem()}
                for entity_id, error in self.errors
            ],
        }


EntityOp = Callable[[Entity | None, Entity], Change]
StateOp = Callable[[Mapping[str, Entity]], list[Change]]

T = TypeVar("T")
log = logging.getLogger("cetate.hub")


@dataclass(slots=True)
class _Write:
    tenant: str
    ids: list[str]
    op: StateOp
    future: Future[list[Change]]


class GroupCommit:
    """Single-entity writes from concurrent requests, committed together.

    A commit costs more than the write it carries; under load, requests that arrive while one
    transaction runs are gathered into the next, each applied in arrival order on the state the
    previous ones left. One request's error (an entity that does not exist...) fails only that
    request; a store failure fails the whole group and nothing of it is written. The writer is
    one thread: SQLite has one writer anyway and releases the GIL while it works, so the event
    loop keeps serving meanwhile."""

    MAX_GROUP = 512

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, tenant: str, ids: list[str], op: StateOp) -> Future[list[Change]]:
        future: Future[list[Change]] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cetate-writer", daemon=True)
                self._thread.start()
        self._queue.put(_Write(tenant, ids, op, future))
        return future

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this group, then stop
                    break
                group.append(item)
            by_tenant: dict[str, list[_Write]] = {}
            for item in group:
                by_tenant.setdefault(item.tenant, []).append(item)
            for tenant, writes in by_tenant.items():
                self._commit(tenant, writes)

    def _commit(self, tenant: str, writes: list[_Write]) -> None:
        outcomes: list[list[Change] | BaseException] = []

        def mutation(existing: Mapping[str, Entity]) -> list[Change]:
            outcomes.clear()
            state = dict(existing)
            done: list[Change] = []
            for write in writes:
                try:
                    changed = write.op(state)
                except Exception as error:  # this request's own failure, not the group's
                    outcomes.append(error)
                    continue
                for change in changed:
                    if change.after is None:
                        state.pop(change.entity_id, None)
                    else:
                        state[change.entity_id] = change.after
                outcomes.append(changed)
                done += changed
            return done

        ids = list(dict.fromkeys(i for write in writes for i in write.ids))
        try:
            self._hub.mutate(tenant, ids, mutation)
        except BaseException as error:
            for write in writes:
                write.future.set_exception(error)
            return
        for write, outcome in zip(writes, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                write.future.set_exception(outcome)
            else:
                write.future.set_result(outcome)


async def call_store(hub: Hub, fn: Callable[..., T], *args: Any) -> T:
    """Call the store from async code: inline for SQLite (microseconds, no thread hop), in a
    worker thread where calls wait on the network (PostgreSQL)."""
    if hub.store.blocking:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)


class Hub:
    def __init__(self, store: Store, contexts: ContextResolver, settings: Settings) -> None:
        self.store = store
        self.contexts = contexts
        self.settings = settings
        # Replaced as a whole under the lock, never edited in place: the writer thread iterates
        # the list it read while listeners come and go on the event loop.
        self.listeners: tuple[ChangeListener, ...] = ()
        self._listeners_lock = threading.Lock()
        self.commit_order = CommitOrder()
        self.writer = GroupCommit(self)

    def add_listener(self, listener: ChangeListener) -> None:
        """Send this process's committed changes to ``listener``; adding it twice is a no-op."""
        with self._listeners_lock:
            if listener not in self.listeners:
                self.listeners = (*self.listeners, listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        with self._listeners_lock:
            self.listeners = tuple(x for x in self.listeners if x is not listener)

    def close(self) -> None:
        self.writer.close()
        self.store.close()

    async def write_one(
        self, tenant: str, entity_id: str, op: Callable[[Entity | None], Change]
    ) -> Change:
        """Apply one operation to one entity, atomically, committed together with the writes
        of concurrent requests; its errors propagate unchanged."""
        future = self.writer.submit(tenant, [entity_id], lambda state: [op(state.get(entity_id))])
        return (await asyncio.wrap_future(future))[0]

    async def create_one(self, tenant: str, entity: Entity) -> None:
        await self.write_one(tenant, entity["id"], lambda old: changes.create(old, entity))

    def mutate(self, tenant: str, ids: Sequence[str], mutation: Mutation) -> list[Change]:
        """``store.mutate``, then the changes published to the listeners in commit order."""
        tickets: list[int] = []

        def ticketed(existing: Mapping[str, Entity]) -> list[Change]:
            if tickets:  # the store runs it again: the transaction before did not commit
                self.commit_order.give_up(tickets.pop())
            tickets.append(self.commit_order.take())
            return mutation(existing)

        try:
            done = self.store.mutate(tenant, ids, ticketed)
        except BaseException:
            for ticket in tickets:
                self.commit_order.give_up(ticket)
            raise
        if not tickets:
            return done
        if not done:
            self.commit_order.give_up(tickets[0])
            return done

        def deliver() -> None:
            for listener in self.listeners:
                listener.publish(tenant, done)

        self.commit_order.publish(tickets[0], deliver)
        return done

    def batch(
        self,
        tenant: str,
        entities: Sequence[Entity],
        op: EntityOp,
        errors: Sequence[tuple[str, CetateError]] = (),
    ) -> BatchResult:
        """Apply ``op`` to each entity in one transaction; one entity's error spoils no other."""
        result = BatchResult(errors=list(errors))

        def mutation(existing: Mapping[str, Entity]) -> list[Change]:
            # A store may run this again (PostgreSQL retries a transaction that conflicted):
            # the outcome is that of the last run only.
            result.success.clear()
            result.created.clear()
            result.outcomes.clear()
            del result.errors[len(errors) :]
            current: dict[str, Entity | None] = dict(existing)
            done: list[Change] = []
            for entity in entities:
                entity_id = entity["id"]
                try:
                    change = op(current.get(entity_id), entity)
                except CetateError as error:
                    result.errors.append((entity_id, error))
                    result.outcomes.append(error)
                    continue
                result.outcomes.append(None)
                if change.before is None and change.after is not None:
                    result.created.append(entity_id)
                current[entity_id] = change.after
                result.success.append(entity_id)
                done.append(change)
            return done

        self.mutate(tenant, [e["id"] for e in entities], mutation)
        return result

    def upsert(self, tenant: str, entities: Sequence[Entity], replace: bool) -> BatchResult:
        def op(old: Entity | None, new: Entity) -> Change:
            if old is None or replace:
                return changes.replace(old, new)
            return changes.append(old, new)

        return self.batch(tenant, entities, op)

    def get(self, tenant: str, entity_id: str) -> Entity:
        entity = self.store.get(tenant, entity_id)
        if entity is None:
            raise ResourceNotFound(f"entity {entity_id} does not exist")
        return entity


def build_hub(settings: Settings) -> Hub:
    """The hub a process serves: its store, @context resolver and settings."""
    contexts = ContextResolver(
        directory=settings.contexts,
        allow_remote=settings.allow_remote_contexts,
        timeout_s=settings.context_timeout_s,
    )
    return Hub(open_store(settings.store), contexts, settings)
