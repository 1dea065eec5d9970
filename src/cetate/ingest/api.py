"""``/ingest``: worker status and dead letters (list, inspect, replay, delete); ``/metrics``: the
same counters in the Prometheus text format."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from cetate.errors import CetateError, ResourceNotFound
from cetate.hub.documents import delete_documents
from cetate.hub.service import Hub
from cetate.ingest.deadletters import (
    DeadLetter,
    count_dead_letters,
    get_dead_letter,
    list_dead_letters,
    replay,
)
from cetate.ingest.mapping import MappingSet
from cetate.ingest.mqtt import MqttWorker
from cetate.ingest.status import key_values, metrics_text, worker_statuses
from cetate.ingest.writer import MessageWriter

router = APIRouter()
metrics_router = APIRouter()


class NoMapping(CetateError):
    type_uri = "https://cetate.city/errors/NoMapping"
    title = "No mapping configured"
    status = 409


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _live(request: Request) -> list[dict[str, Any]]:
    worker: MqttWorker | None = getattr(request.app.state, "ingest_worker", None)
    return [key_values(worker.status_document())] if worker is not None else []


@router.get("/status", summary="Each ingest worker's counters and the dead letters waiting")
def status(request: Request) -> dict[str, Any]:
    hub = _hub(request)
    return {
        "workers": worker_statuses(hub, "", _live(request)),
        "deadLetters": count_dead_letters(hub),
    }


@router.get("/deadletters", summary="Messages that could not be stored, oldest first")
def dead_letters(request: Request, limit: int = 100) -> list[dict[str, Any]]:
    return [letter.view() for letter in list_dead_letters(_hub(request), "", limit)]


@router.get("/deadletters/{letter_id}", summary="One dead letter, with its payload")
def dead_letter(request: Request, letter_id: str) -> dict[str, Any]:
    return _find(request, letter_id).view()


@router.post("/deadletters/replay", summary="Replay dead letters through the current mapping")
def replay_letters(request: Request, ids: list[str] | None = None) -> dict[str, Any]:
    """All dead letters, or those whose ids are given. The ones that now map and store are
    deleted; the others stay, with their new reason."""
    hub = _hub(request)
    mappings: MappingSet | None = getattr(request.app.state, "ingest_mappings", None)
    if mappings is None:
        raise NoMapping("no ingest mapping is configured (CETATE_INGEST_MAPPINGS)")
    letters = list_dead_letters(hub, "", limit=1_000_000)
    if ids is not None:
        wanted = set(ids)
        missing = wanted - {letter.id for letter in letters}
        if missing:
            raise ResourceNotFound(f"no dead letter {sorted(missing)[0]}")
        letters = [letter for letter in letters if letter.id in wanted]
    writer = MessageWriter(hub, mappings, "", "replay")
    done, failed = replay(hub, "", letters, writer.write_kept)
    return {"stored": done, "failed": [{"id": i, "reason": r} for i, r in failed]}


@router.delete("/deadletters/{letter_id}", status_code=204, summary="Forget a dead letter")
def delete_letter(request: Request, letter_id: str) -> Response:
    _find(request, letter_id)
    delete_documents(_hub(request), "", [letter_id])
    return Response(status_code=204)


@metrics_router.get(
    "/metrics", response_class=PlainTextResponse, summary="Ingest counters (Prometheus text)"
)
def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        metrics_text(_hub(request), _live(request)), media_type="text/plain; version=0.0.4"
    )


def _find(request: Request, letter_id: str) -> DeadLetter:
    letter = get_dead_letter(_hub(request), "", letter_id)
    if letter is None:
        raise ResourceNotFound(f"no dead letter {letter_id}")
    return letter
