"""The notifier on an event loop of its own, and in step with the other API processes.

Under load the API's event loop has a queue of requests; a notification queued behind them
waits for all of them (measured: 143 ms median under 16 busy connections). On its own loop, in
its own thread, delivery only waits for the GIL, which the busy loop hands over every few
milliseconds. The same thread watches the store's subscriptions version, so a subscription
created through another API process (``--workers``, or several hosts on PostgreSQL) is picked up
within a second.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from cetate.hub.changes import Change
from cetate.hub.notify import Notifier
from cetate.hub.service import Hub
from cetate.logs import log_event

T = TypeVar("T")
log = logging.getLogger("cetate.hub.notify")

WATCH_EVERY_S = 1.0


class NotifierThread:
    """A ``Notifier`` served from its own thread; same interface for the API and the Hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.inner = Notifier(hub)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="cetate-notifier", daemon=True)
        self._thread.start()
        ready.wait(10)
        await self._call(self._start_inner())

    async def _start_inner(self) -> None:
        version = await asyncio.to_thread(self.hub.store.subscriptions_version)
        await self.inner.start()
        self._watcher = asyncio.create_task(self._watch(version), name="subscriptions-watch")

    async def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        await self._call(self._stop_inner())
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, 30)
        self._loop = self._thread = None

    async def _stop_inner(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.inner.stop()

    async def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "the notifier is not running"
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return await asyncio.wrap_future(future)

    # -- the Notifier interface ----------------------------------------------------------------

    def publish(self, tenant: str, changes: Sequence[Change]) -> None:
        self.inner.publish(tenant, changes)  # thread-safe: hands over to the notifier's loop

    async def subscription_changed(self, tenant: str, sub_id: str) -> None:
        await self._call(self.inner.subscription_changed(tenant, sub_id))

    async def settled(self, tenant: str, sub_id: str, timeout_s: float = 0.5) -> None:
        await self._call(self.inner.settled(tenant, sub_id, timeout_s))

    def live_status(self, tenant: str, sub_id: str) -> dict[str, Any]:
        return self.inner.live_status(tenant, sub_id)

    # -- other processes' subscription changes -------------------------------------------------

    async def _watch(self, seen: int) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            try:
                version = await asyncio.to_thread(self.hub.store.subscriptions_version)
                if version != seen:
                    seen = version
                    await self.inner.reload()
            except Exception as error:  # keep watching; the next round may succeed
                log_event(log, "subscriptions.watch_failed", logging.ERROR, error=repr(error))
