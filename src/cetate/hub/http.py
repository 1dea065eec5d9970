"""HTTP plumbing of the NGSI-LD API: tenants, bodies, @context, content negotiation, errors.

Kept apart from the routes so every router of the hub (entities, temporal, subscriptions) reads
requests and writes responses the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import anyio.to_thread
import orjson
from fastapi import Request
from fastapi.responses import Response

from cetate.errors import (
    BadRequestData,
    CetateError,
    InvalidRequest,
    NonexistentTenant,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from cetate.hub.context import Context, link_header
from cetate.hub.core_context import CORE_CONTEXT_URL
from cetate.hub.service import Hub, call_store

T = TypeVar("T")

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
_TENANT = re.compile(r"^[A-Za-z0-9_\-.:/]{1,256}$")


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def run(hub: Hub, fn: Callable[..., T], *args: Any) -> T:
    """Call the store's world from a request (see ``service.call_store``)."""
    return await call_store(hub, fn, *args)


async def run_batch(fn: Callable[..., T], *args: Any) -> T:
    """Call a large store operation in a worker thread, whatever the store: SQLite releases the
    GIL while it writes, so the event loop parses the next request meanwhile."""
    return await anyio.to_thread.run_sync(lambda: fn(*args))


def tenant_of(request: Request) -> str:
    tenant = request.headers.get("ngsild-tenant", "")
    if tenant and not _TENANT.match(tenant):
        raise BadRequestData(f"tenant name {tenant!r} is not valid")
    return tenant


async def existing_tenant(request: Request, hub: Hub) -> str:
    """The tenant of a read: an unknown tenant is a 404 NonexistentTenant, as the spec says."""
    tenant = tenant_of(request)
    if tenant and not await run(hub, hub.store.tenant_exists, tenant):
        raise NonexistentTenant(f"tenant {tenant!r} does not exist")
    return tenant


def context_of(request: Request, hub: Hub) -> Context:
    """The @context of a request without a body: the Link header, else the core context."""
    return hub.contexts.from_link_header(request.headers.get("link"))


async def read_json(request: Request, hub: Hub, merge_patch: bool = False) -> tuple[Any, str]:
    """The parsed JSON body and its media type (415, 413 and 400 InvalidRequest as due).

    ``application/ld+json`` carries ``@context`` in the body, so a Link header with it is a 400."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    patch = merge_patch or request.method == "PATCH"
    allowed = (JSON, JSON_LD, MERGE_PATCH) if patch else (JSON, JSON_LD)
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type {media or '(none)'} is not supported: use {' or '.join(allowed)}"
        )
    limit = hub.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body has {declared} bytes, more than the limit of {limit}")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLarge(f"the body is larger than the limit of {limit} bytes")
    if not raw:
        raise InvalidRequest("the request has no body")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"the body is not valid JSON: {error}") from None
    if media == JSON_LD and request.headers.get("link") is not None:
        raise BadRequestData("application/ld+json requests carry @context in the body, not Link")
    return payload, media


async def read_body(
    request: Request, hub: Hub, merge_patch: bool = False, needs_context: bool = True
) -> tuple[Any, Context]:
    """The parsed JSON body and the @context it is to be read with.

    ``application/json`` takes its context from the Link header and must not carry ``@context``;
    ``application/ld+json`` carries ``@context`` in the body and must not send a Link header.
    A body with no terms to expand (``needs_context=False``: a list of entity ids) may come as
    ``application/ld+json`` without an ``@context``.
    """
    payload, media = await read_json(request, hub, merge_patch)
    if needs_context and (payload == [] or not isinstance(payload, dict | list)):
        raise InvalidRequest("the body must be a JSON object (or a non-empty array of them)")
    if media == JSON_LD:
        body_context = _body_context(payload)
        if body_context is None and not needs_context:
            return payload, hub.contexts.from_link_header(None)
        if body_context is None:
            raise BadRequestData("an application/ld+json body must have an @context")
        return payload, await _resolve(hub, body_context)
    if _has_context(payload):
        raise BadRequestData("an application/json body must not have @context: use a Link header")
    return payload, hub.contexts.from_link_header(request.headers.get("link"))


class ItemContexts:
    """The @context of each entity of a batch: its own ``@context`` (application/ld+json) or the
    Link header (application/json). A missing, forbidden or unavailable context is that entity's
    error, never the batch's. Each distinct context is resolved once."""

    def __init__(self, request: Request, hub: Hub, media: str) -> None:
        self.hub = hub
        self.media = media
        self.link_context = (
            hub.contexts.from_link_header(request.headers.get("link")) if media != JSON_LD else None
        )
        self._resolved: dict[bytes, Context | CetateError] = {}

    async def of(self, item: Any) -> Context:
        has_context = isinstance(item, dict) and "@context" in item
        if self.link_context is not None:
            if has_context:
                raise BadRequestData(
                    "an application/json body must not have @context: use a Link header"
                )
            return self.link_context
        if not has_context:
            raise BadRequestData("an application/ld+json entity must have an @context")
        key = orjson.dumps(item["@context"])
        found = self._resolved.get(key)
        if found is None:
            try:
                found = await _resolve(self.hub, item["@context"])
            except CetateError as error:
                found = error
            self._resolved[key] = found
        if isinstance(found, CetateError):
            raise found
        return found


async def _resolve(hub: Hub, context: Any) -> Context:
    # Remote contexts may need a fetch the first time; never block the event loop on it.
    return await anyio.to_thread.run_sync(lambda: hub.contexts.resolve(context))


def _body_context(payload: Any) -> Any:
    if isinstance(payload, dict):
        return payload.get("@context")
    if isinstance(payload, list):
        contexts = [item.get("@context") for item in payload if isinstance(item, dict)]
        if contexts and all(c is not None for c in contexts):
            first = contexts[0]
            if any(c != first for c in contexts):
                raise BadRequestData("every entity of one request must use the same @context")
            return first
    return None


def _has_context(payload: Any) -> bool:
    if isinstance(payload, dict):
        return "@context" in payload
    if isinstance(payload, list):
        return any(isinstance(i, dict) and "@context" in i for i in payload)
    return False


def output_format(request: Request, geo_allowed: bool = False) -> str:
    """``json``, ``ld`` or ``geo``, from the Accept header (406 when nothing fits)."""
    return negotiate(request.headers.get("accept", ""), geo_allowed)


def negotiate(accept: str, geo_allowed: bool = False) -> str:
    """``json``, ``ld`` or ``geo`` for an Accept header value (406 when nothing fits)."""
    if not accept.strip():
        return "json"
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        weight = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                weight = float(match.group(1))
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, media.strip().lower()))
    for negative_weight, _, media in sorted(ranked):
        if negative_weight == 0:
            continue
        if media in (JSON, "*/*", "application/*"):
            return "json"
        if media == JSON_LD:
            return "ld"
        if media == GEO_JSON and geo_allowed:
            return "geo"
    raise NotAcceptable(f"cannot answer in {accept}: use application/json or application/ld+json")


def json_response(
    body: Any,
    ctx: Context,
    fmt: str = "json",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON body with its @context: a Link header for JSON, ``@context`` inline for JSON-LD."""
    out_headers = dict(headers or {})
    context_ref: Any = list(ctx.urls) if ctx.urls else CORE_CONTEXT_URL
    if isinstance(context_ref, list) and len(context_ref) == 1:
        context_ref = context_ref[0]
    if fmt == "geo" and isinstance(body, dict):
        # GeoJSON carries its JSON-LD context in the body (NGSI-LD 6.3.15)
        body = {**body, "@context": context_ref}
    if fmt == "ld":
        if isinstance(body, dict):
            body = {**body, "@context": context_ref}
        elif isinstance(body, list):
            body = [{**item, "@context": context_ref} for item in body]
        media = JSON_LD
    else:
        link = ctx.urls[0] if ctx.urls else CORE_CONTEXT_URL
        out_headers["Link"] = link_header(link)
        media = GEO_JSON if fmt == "geo" else JSON
    return Response(orjson.dumps(body), status_code=status, media_type=media, headers=out_headers)


def location(base: str, resource_id: str) -> str:
    """A Location header value: non-ASCII characters of the id percent-encoded (headers are
    Latin-1 on the wire)."""
    return base + quote(resource_id, safe=":/@!$&'()*+,;=-._~")


def problem_response(error: CetateError) -> Response:
    return Response(
        orjson.dumps(error.problem()), status_code=error.status, media_type="application/json"
    )


def flag_options(request: Request) -> set[str]:
    """The words of ``options`` (and of ``format``, its NGSI-LD v1.7 spelling)."""
    words: set[str] = set()
    for key in ("options", "format"):
        for value in request.query_params.getlist(key):
            words.update(w.strip() for w in value.split(",") if w.strip())
    return words


def names_param(request: Request, key: str, ctx: Context) -> frozenset[str] | None:
    """A comma list of attribute names, expanded (``attrs=speed,location``)."""
    raw = request.query_params.get(key)
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        raise BadRequestData(f"{key} is empty")
    iris = frozenset(ctx.expand(n) for n in names)
    if any(iri[0] == "@" for iri in iris):  # id, type: entity members, not attributes
        raise BadRequestData(f"{key} names entity members, not attributes: {raw!r}")
    return iris


def int_param(request: Request, key: str, default: int | None, minimum: int = 0) -> int | None:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestData(f"{key} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise BadRequestData(f"{key} must be at least {minimum}, got {value}")
    return value


# ---------------------------------------------------------------------------------------------
# Checks made before routing


#: Paths (after the API prefix) that may answer in GeoJSON: entity query and retrieval.
_GEO_PATHS = re.compile(r"^/entities(/[^/]+)?$|^/entityOperations/query$")
_BODY_MEDIA = frozenset({JSON, JSON_LD, MERGE_PATCH})


class NgsiLdRequests:
    """ASGI middleware in front of the NGSI-LD API, for what is decided before routing:

    * a trailing slash is dropped (``/entities/`` is ``/entities``), without a redirect;
    * an empty path segment (``/entities//attrs/speed``) is a 400 BadRequestData: an id or a
      name is missing, whatever the resource;
    * a body that is not JSON is a 415 and an Accept that allows no JSON a 406, before the
      resource is looked up (so an unknown entity still answers 415/406, as the spec orders).
    """

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix + "/"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        rest = path[len(self.prefix) :]
        raw_path: bytes = scope.get("raw_path") or path.encode()
        if len(rest) > 1 and rest.endswith("/"):
            rest = rest[:-1]
            scope = dict(scope, path=self.prefix + rest, raw_path=raw_path[:-1])
        # empty segments are looked for in the raw path: an expanded IRI in a segment
        # (/types/https%3A%2F%2F...) decodes to "//" without being empty
        error = self._check(scope, rest, b"//" in raw_path.rstrip(b"/"))
        if error is not None:
            await problem_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _check(scope: Any, rest: str, empty_segment: bool) -> CetateError | None:
        if empty_segment:
            return BadRequestData(f"the path {rest} has an empty segment: an id or name is missing")
        headers = {k.lower(): v for k, v in scope["headers"] if k.lower() in _CHECKED}
        method = scope["method"]
        if method in ("POST", "PATCH", "PUT") and b"content-type" in headers:
            media = headers[b"content-type"].decode("latin-1").split(";")[0].strip().lower()
            if media not in _BODY_MEDIA:
                return UnsupportedMediaType(
                    f"Content-Type {media} is not supported: use {JSON} or {JSON_LD}"
                )
        if method == "GET" and b"accept" in headers:
            try:
                negotiate(headers[b"accept"].decode("latin-1"), _GEO_PATHS.match(rest) is not None)
            except NotAcceptable as error:
                return error
        return None


_CHECKED = frozenset({b"content-type", b"accept"})
