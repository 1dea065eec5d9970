"""What the ingest workers report: their counters (kept in the hub as ``cetate:IngestStatus``
entities, so a worker in another process is seen too) and the dead letters waiting, as a table
for the CLI and in the Prometheus text format for ``/metrics``."""

from __future__ import annotations

from typing import Any

from cetate.hub.documents import find_documents
from cetate.hub.service import Hub
from cetate.ingest.deadletters import count_dead_letters
from cetate.ingest.mqtt import STATUS_TYPE

METRICS = (
    # name, help, type, status attribute
    ("cetate_ingest_received_total", "Messages received by the worker.", "counter", "received"),
    ("cetate_ingest_stored_total", "Messages written to the hub.", "counter", "stored"),
    (
        "cetate_ingest_dead_lettered_total",
        "Messages kept as dead letters.",
        "counter",
        "deadLettered",
    ),
    (
        "cetate_ingest_lag_seconds",
        "Arrival to commit of the oldest message of the last batch.",
        "gauge",
        "lagSeconds",
    ),
    ("cetate_ingest_queued", "Messages received, not yet written.", "gauge", "queued"),
    ("cetate_ingest_connected", "1 while connected to the broker.", "gauge", "connected"),
)


def worker_statuses(
    hub: Hub, tenant: str = "", live: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Each worker's last report (keyValues); ``live`` reports of this process win over their
    stored copies, which may be a few seconds old."""
    found = {d["id"]: d for d in find_documents(hub, tenant, STATUS_TYPE)}
    for document in live or []:
        found[document["id"]] = document
    return sorted(found.values(), key=lambda d: str(d["id"]))


def prometheus_text(statuses: list[dict[str, Any]], dead_letters: int) -> str:
    lines: list[str] = []
    for name, help_text, kind, attribute in METRICS:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for status in statuses:
            worker = str(status["id"]).rsplit(":", 1)[-1].replace("\\", "\\\\").replace('"', '\\"')
            value = status.get(attribute, 0)
            lines.append(f'{name}{{worker="{worker}"}} {float(value):g}')
    lines.append("# HELP cetate_ingest_dead_letters Dead letters waiting in the hub.")
    lines.append("# TYPE cetate_ingest_dead_letters gauge")
    lines.append(f"cetate_ingest_dead_letters {dead_letters}")
    return "\n".join(lines) + "\n"


def metrics_text(hub: Hub, live: list[dict[str, Any]] | None = None, tenant: str = "") -> str:
    return prometheus_text(worker_statuses(hub, tenant, live), count_dead_letters(hub, tenant))


def key_values(document: dict[str, Any]) -> dict[str, Any]:
    """A normalized status document (as a worker writes it) in keyValues form."""
    return {
        name: (value["value"] if isinstance(value, dict) and "value" in value else value)
        for name, value in document.items()
        if name != "type"
    }
