"""Planning jobs for the API: a plan takes tens of seconds, so a request starts a job and the
client follows its progress.

Each job is kept in the hub as a ``cetate:LogisticsPlan`` entity from the moment it is queued
(its status and progress, then its plan or its error), so every API process sharing the hub
can answer for it and a finished plan survives a restart. What the routes and reports need
besides (the problem, the plan as objects) stays in the memory of the process that planned,
for the last ``KEPT_IN_MEMORY`` jobs.

One job plans at a time (the solver uses a whole core; two at once would each get half and
plan worse within their time limits); the others wait their turn, in order. When the server
stops, the running job is stopped at its next progress report and the waiting ones are
dropped; each is kept as failed, so nobody waits for it forever.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any, Literal

from cetate.errors import NGSI_ERRORS, CetateError
from cetate.hub.documents import get_document, upsert_documents
from cetate.hub.model import now_iso
from cetate.hub.service import Hub
from cetate.logs import log_event

log = logging.getLogger(__name__)

JOB_TYPE = "cetate:LogisticsPlan"
ID_PREFIX = "urn:ngsi-ld:LogisticsPlan:"
KEPT_IN_MEMORY = 50  # finished jobs whose problem and plan objects stay for routes and reports
KEEP_PROGRESS_EVERY_S = 5.0  # how often a running job's progress is written to the hub
STOP_WAIT_S = 10.0  # how long closing waits for the running job to notice and stop

Status = Literal["queued", "running", "done", "failed"]
Progress = Callable[[float, str], None]
Work = Callable[[Progress], dict[str, Any]]


class JobInterrupted(CetateError):
    """The server stopped before the job was done; it has to be started again."""

    type_uri = NGSI_ERRORS + "InternalError"
    title = "Interrupted"
    status = 503


class _Stopping(Exception):
    """Raised from a job's progress report to end its work when the server stops."""


@dataclass
class Job:
    id: str
    kind: str  # "plan" or "comparison"
    tenant: str
    status: Status = "queued"
    progress: float = 0.0
    message: str = ""
    created: str = field(default_factory=now_iso)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # what reports need (problem, plans)

    def document(self) -> dict[str, Any]:
        """The job as the API shows it (and as the hub keeps it, without ``extra``)."""
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "progress": round(self.progress, 3),
            "message": self.message,
            "created": self.created,
        }
        if self.result is not None:
            body["result"] = self.result
        if self.error is not None:
            body["error"] = self.error
        return body


class Jobs:
    """The jobs of one API process; ``get`` also finds those of other processes (and of
    earlier runs) through the hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._jobs: dict[str, Job] = {}
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cetate-plan")

    def submit(self, kind: str, tenant: str, work: Work, extra: dict[str, Any]) -> Job:
        """Queue ``work``; it is called with a progress function and returns the result."""
        if self._stopping.is_set():
            raise JobInterrupted("the server is stopping: no new job is started")
        job = Job(f"{ID_PREFIX}{uuid.uuid4()}", kind, tenant, extra=extra)
        self._keep(job)
        with self._lock:
            self._jobs[job.id] = job
            self._futures[job.id] = self._pool.submit(self._run, job, work)
        log_event(log, "logistics.job.queued", job=job.id, kind=kind, tenant=tenant)
        return job

    def get(self, job_id: str, tenant: str) -> Job | None:
        """A snapshot of the job (this process's, else the hub's), or None; a job of another
        tenant is not found."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.tenant == tenant:
                return dataclasses.replace(job)
        stored = get_document(self.hub, tenant, job_id)
        if stored is None or stored.get("type") != JOB_TYPE:
            return None
        return Job(
            stored["id"],
            str(stored.get("kind", "plan")),
            tenant,
            status=stored.get("status", "done"),
            progress=float(stored.get("progress", 1.0)),
            message=str(stored.get("message", "")),
            created=str(stored.get("created", "")),
            result=stored.get("result"),
            error=stored.get("error"),
        )

    def close(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop: drop the waiting jobs, stop the running one at its next progress report
        (waiting for it at most ``wait_s``), and keep each in the hub as interrupted."""
        self._stopping.set()
        with self._lock:
            unfinished = [(self._jobs[i], f) for i, f in self._futures.items()]
        self._pool.shutdown(wait=False, cancel_futures=True)
        for job, future in unfinished:
            if future.cancelled():  # never started: nothing else will keep it
                self._finish(job, error=_interrupted())
        running = [future for _, future in unfinished if not future.cancelled()]
        if running:
            wait_for(running, timeout=wait_s)

    def _run(self, job: Job, work: Work) -> None:
        with self._lock:
            job.status, job.message = "running", "starting"
        self._keep(job)
        kept_at = time.monotonic()

        def progress(fraction: float, message: str) -> None:
            nonlocal kept_at
            if self._stopping.is_set():
                raise _Stopping
            with self._lock:
                job.progress, job.message = min(1.0, max(0.0, fraction)), message
            if time.monotonic() - kept_at >= KEEP_PROGRESS_EVERY_S:
                kept_at = time.monotonic()
                self._keep(job)

        try:
            result = work(progress)
        except _Stopping:
            self._finish(job, error=_interrupted())
        except CetateError as error:
            self._finish(job, error=error)
        except Exception as error:  # a bug: say so, keep the server up
            log.exception("logistics job %s failed", job.id)
            self._finish(job, error=CetateError(f"internal error: {type(error).__name__}"))
        else:
            self._finish(job, result=result)

    def _finish(
        self, job: Job, result: dict[str, Any] | None = None, error: CetateError | None = None
    ) -> None:
        with self._lock:
            if error is None:
                job.status, job.progress, job.message, job.result = "done", 1.0, "done", result
            else:
                job.status, job.message, job.error = "failed", error.detail, error.problem()
            self._futures.pop(job.id, None)
            self._forget_old()
        self._keep(job)
        log_event(log, "logistics.job.finished", job=job.id, status=job.status)

    def _forget_old(self) -> None:
        """Drop the oldest finished jobs from memory beyond ``KEPT_IN_MEMORY`` (they stay in
        the hub): a server planning all day must not grow without end. Called under the lock."""
        finished = [j for j in self._jobs.values() if j.status in ("done", "failed")]
        for job in finished[: max(0, len(finished) - KEPT_IN_MEMORY)]:
            del self._jobs[job.id]

    def _keep(self, job: Job) -> None:
        """Write the job to the hub. A failure is logged, not raised: the job goes on, and
        this process can still answer for it."""
        with self._lock:
            shown = job.document()
        document: dict[str, Any] = {"id": job.id, "type": JOB_TYPE}
        for name, value in shown.items():
            if name != "id":
                document[name] = {"type": "Property", "value": value}
        try:
            outcome = upsert_documents(self.hub, job.tenant, [document])
        except Exception as error:  # a store failure must not end the worker thread
            log_event(log, "logistics.job.not_kept", logging.ERROR, job=job.id, error=repr(error))
            return
        for _, problem in outcome.errors:
            log_event(
                log, "logistics.job.not_kept", logging.ERROR, job=job.id, error=problem.detail
            )


def _interrupted() -> JobInterrupted:
    return JobInterrupted("interrupted: the server stopped before the job was done; start it again")
