"""Alerts: their order, the acknowledge/resolve transitions with who and when, and /alerts on
each store, with accounts off and on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from cetate.alerts.model import (
    ACTIONS,
    Status,
    alert_document,
    ordered,
    parse_note,
    status_of,
    transition,
)
from cetate.alerts.service import act_on_alert
from cetate.config import Settings
from cetate.errors import BadRequestData, Conflict, ResourceNotFound
from cetate.hub.documents import upsert_documents
from cetate.hub.service import Hub
from cetate.web.app import create_app
from cetate.web.auth import passwords
from cetate.web.auth.accounts import Accounts
from cetate.web.auth.roles import Role

ENTITIES = "/ngsi-ld/v1/entities"


def run_async(coroutine: Any) -> Any:
    """Run a coroutine to its end on a loop of its own thread (the browser tests of the same
    session keep an event loop running on this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def alert(suffix: str, severity: str, minutes_ago: int) -> dict[str, Any]:
    issued = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    return alert_document(
        f"urn:ngsi-ld:Alert:t:{suffix}",
        category="traffic",
        sub_category="carAccident",
        severity=severity,
        description=f"alert {suffix}",
        issued=issued.replace("+00:00", "Z"),
        source="urn:ngsi-ld:Camera:t:1",
        lon_lat=(26.1, 44.43),
    )


ALERTS = [alert("a", "low", 1), alert("b", "critical", 30), alert("c", "critical", 5),
          alert("d", "medium", 2)]  # fmt: skip


# -- the model -----------------------------------------------------------------------------------


def test_alerts_are_ordered_open_first_then_severity_then_newest() -> None:
    plain = [
        {"id": "a", "severity": "low", "dateIssued": "2026-11-22T11:59:00Z"},
        {"id": "b", "severity": "critical", "dateIssued": "2026-11-22T11:30:00Z"},
        {"id": "c", "severity": "critical", "dateIssued": "2026-11-22T11:55:00Z"},
        {"id": "d", "dateIssued": "2026-11-22T11:58:00Z"},  # no severity: as medium
        {
            "id": "e",
            "severity": "critical",
            "status": "resolved",
            "dateIssued": "2026-11-22T12:00Z",
        },
        {
            "id": "f",
            "severity": "high",
            "status": "acknowledged",
            "dateIssued": "2026-11-22T11:00Z",
        },
    ]
    assert [a["id"] for a in ordered(plain)] == ["c", "b", "d", "a", "f", "e"]


def test_a_transition_records_who_when_and_the_note() -> None:
    attrs = transition(
        {"id": "x"}, ACTIONS["acknowledge"], "otto", "2026-11-22T12:00:00.000Z", "ok"
    )
    assert attrs["status"]["value"] == "acknowledged"
    assert attrs["acknowledgedBy"]["value"] == "otto"
    assert attrs["acknowledgedAt"]["value"] == "2026-11-22T12:00:00.000Z"
    assert attrs["acknowledgementNote"]["value"] == "ok"
    assert {a["observedAt"] for a in attrs.values()} == {"2026-11-22T12:00:00.000Z"}
    resolved = transition(
        {"id": "x", "status": "acknowledged"}, ACTIONS["resolve"], "ada", "t", None
    )
    assert resolved["status"]["value"] == "resolved" and "resolutionNote" not in resolved


def test_a_transition_the_status_forbids_is_a_conflict_naming_who_did_it() -> None:
    done = {"id": "x", "status": "resolved", "resolvedBy": "ada", "resolvedAt": "12:00"}
    with pytest.raises(Conflict, match="already resolved \\(by ada at 12:00\\)"):
        transition(done, ACTIONS["resolve"], "otto", "t", None)
    with pytest.raises(Conflict, match="already acknowledged"):
        transition({"id": "x", "status": "acknowledged"}, ACTIONS["acknowledge"], "o", "t", None)


def test_an_alert_without_a_known_status_is_open() -> None:
    assert status_of({}) is Status.OPEN
    assert status_of({"status": "weird"}) is Status.OPEN
    assert status_of({"status": "resolved"}) is Status.RESOLVED


@pytest.mark.parametrize(
    ("body", "message"),
    [([], "is {"), ({"note": 3}, "string"), ({"other": 1}, "is {"), ({"note": "x" * 2001}, "2000")],
)
def test_bad_notes_are_refused(body: Any, message: str) -> None:
    with pytest.raises(BadRequestData, match=message):
        parse_note(body)


def test_a_blank_note_is_no_note() -> None:
    assert parse_note({"note": "  "}) is None
    assert parse_note(None) is None


def test_alert_documents_carry_a_known_severity() -> None:
    with pytest.raises(ValueError, match="severity"):
        alert_document("urn:a", category="c", sub_category="s", severity="bad",
                       description="d", issued="2026-11-22T12:00:00Z", source="s")  # fmt: skip


# -- the service, on each store ------------------------------------------------------------------


def test_two_operators_resolving_at_once_get_one_success_and_one_conflict(hub: Hub) -> None:
    assert not upsert_documents(hub, "", ALERTS).errors
    resolve = ACTIONS["resolve"]
    alert_id = "urn:ngsi-ld:Alert:t:a"

    async def both() -> list[Any]:
        return await asyncio.gather(
            act_on_alert(hub, "", alert_id, resolve, "otto", None),
            act_on_alert(hub, "", alert_id, resolve, "olga", None),
            return_exceptions=True,
        )

    outcomes = run_async(both())
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1


def test_acting_on_what_is_not_an_alert_is_not_found(hub: Hub) -> None:
    light = {"id": "urn:ngsi-ld:Streetlight:t:1", "type": "Streetlight"}
    assert not upsert_documents(hub, "", [light]).errors
    for entity_id in ("urn:ngsi-ld:Streetlight:t:1", "urn:ngsi-ld:Alert:none"):
        with pytest.raises(ResourceNotFound):
            run_async(act_on_alert(hub, "", entity_id, ACTIONS["resolve"], "o", None))


# -- the API -------------------------------------------------------------------------------------


@pytest.fixture
def client(hub: Hub) -> Iterator[TestClient]:
    assert not upsert_documents(hub, "", ALERTS).errors
    with TestClient(create_app(hub.settings, hub)) as test_client:
        yield test_client


def test_the_list_is_ordered_filtered_and_counted(client: TestClient) -> None:
    body = client.get("/alerts").json()
    assert [a["id"][-1] for a in body["alerts"]] == ["c", "b", "d", "a"]
    assert body["counts"] == {"open": 4, "acknowledged": 0, "resolved": 0}
    client.post("/alerts/urn:ngsi-ld:Alert:t:c/acknowledge")
    client.post("/alerts/urn:ngsi-ld:Alert:t:b/resolve", json={"note": "cleared"})
    active = client.get("/alerts", params={"status": "open,acknowledged"}).json()
    assert [a["id"][-1] for a in active["alerts"]] == ["d", "a", "c"]
    assert active["counts"] == {"open": 2, "acknowledged": 1, "resolved": 1}
    resolved = client.get("/alerts", params={"status": "resolved"}).json()["alerts"]
    assert resolved[0]["resolutionNote"] == "cleared"
    cut = client.get("/alerts", params={"limit": 1}).json()
    assert len(cut["alerts"]) == 1 and cut["truncated"] is True
    assert client.get("/alerts/badge").json() == {"count": 2, "severity": "medium"}


def test_actions_record_the_caller_and_keep_history(client: TestClient) -> None:
    alert_id = "urn:ngsi-ld:Alert:t:a"
    done = client.post(f"/alerts/{alert_id}/acknowledge", json={"note": "seen"}).json()
    # Accounts off: who is the address the request came from.
    assert done["status"] == "acknowledged" and done["acknowledgedBy"] == "anonymous@testclient"
    again = client.post(f"/alerts/{alert_id}/acknowledge")
    assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]
    assert client.post(f"/alerts/{alert_id}/resolve").json()["status"] == "resolved"
    history = client.get(
        f"/ngsi-ld/v1/temporal/entities/{alert_id}", params={"options": "temporalValues"}
    ).json()
    assert [v[0] for v in history["status"]["values"]] == ["open", "acknowledged", "resolved"]


def test_the_map_at_a_past_time_shows_the_alert_as_it_was(client: TestClient) -> None:
    """Alert b was issued 30 minutes ago (and written only now): the map of 10 minutes ago
    has it open, where it was, with its severity; the map after its resolution greys it."""

    def alerts_at(minutes_ago: int | None) -> dict[str, tuple[float, float, str]]:
        params = {}
        if minutes_ago is not None:
            when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
            params["at"] = when.isoformat().replace("+00:00", "Z")
        points = client.get("/ui/layers/alerts/points", params=params).json()["points"]
        return {p[1][-1]: (p[2], p[3], p[4]) for p in points}

    assert client.post("/alerts/urn:ngsi-ld:Alert:t:b/resolve").status_code == 200
    assert alerts_at(None)["b"][2] == "resolved"
    assert alerts_at(10)["b"] == (26.1, 44.43, "critical")
    assert set(alerts_at(10)) == {"b"}  # the others were issued later
    assert alerts_at(45) == {}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/alerts/urn:ngsi-ld:Alert:t:a/close", None, 400),
        ("/alerts/urn:ngsi-ld:Alert:nothing/resolve", None, 404),
        ("/alerts/urn:ngsi-ld:Alert:t:a/resolve", b"{not json", 400),
        ("/alerts/urn:ngsi-ld:Alert:t:a/resolve", b'{"note": 1}', 400),
        ("/alerts/urn:ngsi-ld:Alert:t:a/resolve", b'{"note": "' + b"x" * 9000 + b'"}', 413),
    ],
)
def test_bad_actions_get_problem_details(
    client: TestClient, path: str, body: bytes | None, status: int
) -> None:
    response = client.post(path, content=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status"] == status


def test_bad_list_parameters_are_refused(client: TestClient) -> None:
    assert client.get("/alerts", params={"status": "closed"}).status_code == 400
    assert client.get("/alerts", params={"limit": 0}).status_code == 400


def test_an_unknown_tenant_has_no_alerts(client: TestClient) -> None:
    body = client.get("/alerts", headers={"NGSILD-Tenant": "nowhere"}).json()
    assert body["alerts"] == [] and body["counts"]["open"] == 0


def test_with_accounts_on_operators_act_viewers_read_and_who_is_the_account(hub: Hub) -> None:
    assert not upsert_documents(hub, "", ALERTS).errors
    settings = Settings(store="unused", allow_remote_contexts=False, auth=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024))
        accounts = Accounts(hub, settings)
        viewer = accounts.create_key("vera-key", {"": Role.VIEWER})[1]
        operator = accounts.create_key("otto-key", {"": Role.OPERATOR})[1]
    with TestClient(create_app(settings, hub)) as client:
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        as_operator = {"Authorization": f"Bearer {operator}"}
        assert client.get("/alerts", headers=as_viewer).status_code == 200
        refused = client.post("/alerts/urn:ngsi-ld:Alert:t:a/resolve", headers=as_viewer)
        assert refused.status_code == 403
        done = client.post("/alerts/urn:ngsi-ld:Alert:t:a/resolve", headers=as_operator)
        assert done.json()["resolvedBy"] == "otto-key"
        assert client.post("/alerts/urn:ngsi-ld:Alert:t:b/resolve").status_code == 401
