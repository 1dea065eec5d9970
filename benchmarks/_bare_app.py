"""The baseline server of the hub benchmarks: bare FastAPI on the same uvicorn settings.

GET returns a fixed entity and PATCH reads its JSON body and answers 204, so the ratio against
Cetate shows what the hub itself costs on top of the framework.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

ENTITY = orjson.dumps(
    {
        "id": "urn:ngsi-ld:TrafficFlowObserved:1",
        "type": "TrafficFlowObserved",
        "intensity": {"type": "Property", "value": 197},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [25.6, 45.6]},
        },
    }
)

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/ngsi-ld/v1/entities/{entity_id}")
async def get_entity(entity_id: str) -> Response:
    return Response(ENTITY, media_type="application/json")


@app.patch("/ngsi-ld/v1/entities/{entity_id}/attrs/{attr}")
async def patch_attr(request: Request, entity_id: str, attr: str) -> Response:
    orjson.loads(await request.body())
    return Response(status_code=204)


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run(
        "_bare_app:app",
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
