"""Alerts in the hub: listed for the operations room, acknowledged and resolved atomically."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from cetate.alerts.model import ALERT_TYPE, Action, Status, ordered, status_of, transition
from cetate.errors import ResourceNotFound
from cetate.hub import changes
from cetate.hub.documents import find_documents
from cetate.hub.model import Entity, RenderOptions, now_iso, parse_entity, render_entity
from cetate.hub.service import Hub

# Alerts read for one listing; a city with more alive at once has a bigger problem than this.
MAX_ALERTS = 10_000


@dataclass(frozen=True)
class AlertList:
    alerts: list[dict[str, Any]]  # keyValues, in handling order (model.ordered)
    counts: dict[str, int]  # status -> alerts, over all of them
    truncated: bool  # more than ``limit`` matched


def list_alerts(
    hub: Hub, tenant: str, statuses: Collection[Status] | None = None, limit: int = 500
) -> AlertList:
    """The tenant's alerts with one of ``statuses`` (all when None), the most urgent first."""
    if tenant and not hub.store.tenant_exists(tenant):
        return AlertList([], {s.value: 0 for s in Status}, False)
    found = find_documents(hub, tenant, ALERT_TYPE, limit=MAX_ALERTS)
    counts = Counter(status_of(alert).value for alert in found)
    chosen = [a for a in found if statuses is None or status_of(a) in statuses]
    sorted_alerts = [dict(a) for a in ordered(chosen)]
    return AlertList(
        sorted_alerts[:limit],
        {s.value: counts.get(s.value, 0) for s in Status},
        len(sorted_alerts) > limit,
    )


async def act_on_alert(
    hub: Hub, tenant: str, alert_id: str, action: Action, who: str, note: str | None
) -> dict[str, Any]:
    """Apply ``action`` by ``who`` now; the status check and the write are one transaction,
    so two operators resolving the same alert get one success and one Conflict."""
    ctx = hub.contexts.core()
    alert_type = ctx.expand(ALERT_TYPE)
    key_values = RenderOptions(key_values=True)
    now = now_iso()

    def op(old: Entity | None) -> changes.Change:
        if old is None or alert_type not in old["type"]:
            raise ResourceNotFound(f"no alert {alert_id}")
        current = render_entity(old, ctx, key_values)
        attributes = transition(current, action, who, now, note)
        fragment = parse_entity({"id": alert_id, "type": ALERT_TYPE, **attributes}, ctx, now)
        return changes.append(old, fragment)

    change = await hub.write_one(tenant, alert_id, op)
    assert change.after is not None
    return render_entity(change.after, ctx, key_values)
