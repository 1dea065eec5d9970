"""Planning jobs for the API: a plan takes tens of seconds, so a request starts a job and the
client follows its progress; the finished plan is kept in the hub, so it survives a restart.

One job plans at a time (the solver uses a whole core; two at once would each get half and
plan worse within their time limits); the others wait their turn, in order.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from cetate.errors import CetateError
from cetate.hub.documents import get_document, upsert_documents
from cetate.hub.model import now_iso
from cetate.hub.service import Hub

log = logging.getLogger(__name__)

JOB_TYPE = "cetate:LogisticsPlan"
Status = Literal["queued", "running", "done", "failed"]
Work = Callable[[Callable[[float, str], None]], dict[str, Any]]


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
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cetate-plan")

    def submit(self, kind: str, tenant: str, work: Work, extra: dict[str, Any]) -> Job:
        job = Job(f"urn:ngsi-ld:{JOB_TYPE.split(':')[1]}:{uuid.uuid4()}", kind, tenant)
        job.extra = extra
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str, tenant: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None and job.tenant == tenant:
            return job
        stored = get_document(self.hub, tenant, job_id)
        if stored is None or stored.get("type") != JOB_TYPE:
            return None
        return Job(
            stored["id"],
            stored.get("kind", "plan"),
            tenant,
            status=stored.get("status", "done"),
            progress=float(stored.get("progress", 1.0)),
            message=stored.get("message", ""),
            created=stored.get("created", ""),
            result=stored.get("result"),
            error=stored.get("error"),
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job, work: Work) -> None:
        job.status = "running"

        def progress(fraction: float, message: str) -> None:
            job.progress = fraction
            job.message = message

        try:
            job.result = work(progress)
            job.status, job.progress, job.message = "done", 1.0, "done"
        except CetateError as error:
            job.status, job.error, job.message = "failed", error.problem(), error.detail
        except Exception as error:  # a bug: say so, keep the server up
            log.exception("logistics job %s failed", job.id)
            job.status, job.message = "failed", "internal error"
            job.error = CetateError(f"internal error: {type(error).__name__}").problem()
        self._keep(job)

    def _keep(self, job: Job) -> None:
        document: dict[str, Any] = {"id": job.id, "type": JOB_TYPE}
        for name, value in job.document().items():
            if name != "id":
                document[name] = {"type": "Property", "value": value}
        try:
            upsert_documents(self.hub, job.tenant, [document])
        except CetateError as error:
            log.error("logistics job %s not kept in the hub: %s", job.id, error.detail)
