"""@context resolution, term expansion and IRI compaction (cetate.hub.context)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cetate.errors import BadRequestData, CetateError, LdContextNotAvailable
from cetate.hub.context import (
    JSONLD_CONTEXT_REL,
    Context,
    ContextResolver,
    is_core_context_url,
    link_header,
)
from cetate.hub.core_context import CORE_CONTEXT, CORE_CONTEXT_URL, DEFAULT_VOCAB

NGSI = "https://uri.etsi.org/ngsi-ld/"
SUITE_URL = (
    "https://raw.githubusercontent.com/marek-mraz/ngsi-ld-test-suite/main/resources/"
    "jsonld-contexts/ngsi-ld-test-suite.jsonld"
)
COMPOUND_URL = SUITE_URL.replace("ngsi-ld-test-suite.jsonld", "ngsi-ld-test-suite-compound.jsonld")
SUITE_NS = "https://ngsi-ld-test-suite/context#"
CORE_TERMS = frozenset(k for k in CORE_CONTEXT if not k.startswith("@"))


def link(url: str, rel: str = JSONLD_CONTEXT_REL) -> str:
    return f'<{url}>; rel="{rel}"; type="application/ld+json"'


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any HTTP request fails the test: proves a code path does no network I/O."""

    def no_io(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unexpected HTTP request")

    monkeypatch.setattr(httpx.Client, "send", no_io)


@pytest.fixture
def resolver() -> ContextResolver:
    return ContextResolver(allow_remote=False)


@pytest.fixture
def core(resolver: ContextResolver) -> Context:
    return resolver.core()


@pytest.fixture(scope="module")
def suite_contexts() -> Path:
    """../shared/data/ngsi-ld/contexts: the shared copies of the core and ETSI test-suite
    contexts (skips where absent; CETATE_SHARED_DATA overrides the location)."""
    shared = Path(
        os.environ.get("CETATE_SHARED_DATA", Path(__file__).parents[3] / "shared" / "data")
    )
    directory = shared / "ngsi-ld" / "contexts"
    if not (directory / "ngsi-ld-test-suite-compound.jsonld").is_file():
        pytest.skip(f"NGSI-LD contexts not found in {directory} (set CETATE_SHARED_DATA)")
    return directory


class _Server:
    """A tiny HTTP server on 127.0.0.1 serving fixed documents and counting requests."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.hits: Counter[str] = Counter()
        self.accept: list[str | None] = []
        self.delay_s = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                server.accept.append(self.headers.get("Accept"))
                time.sleep(server.delay_s)
                status, body = server.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", "application/ld+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def serve(self, path: str, document: Any, status: int = 200) -> str:
        body = document if isinstance(document, bytes) else orjson.dumps(document)
        self.routes[path] = (status, body)
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture
def remote() -> Iterator[ContextResolver]:
    res = ContextResolver(allow_remote=True, timeout_s=5.0)
    yield res
    res.close()


# -- core context -----------------------------------------------------------------------------


def test_core_context_constant_matches_the_shared_v1_9_document(suite_contexts: Path) -> None:
    document = orjson.loads((suite_contexts / "ngsi-ld-core-context-v1.9.jsonld").read_bytes())
    assert document["@context"] == CORE_CONTEXT
    assert (
        CORE_CONTEXT["@vocab"] == DEFAULT_VOCAB == "https://uri.etsi.org/ngsi-ld/default-context/"
    )
    assert is_core_context_url(CORE_CONTEXT_URL)


@pytest.mark.parametrize(
    ("term", "iri"),
    [
        ("location", NGSI + "location"),
        ("observedAt", NGSI + "observedAt"),
        ("createdAt", NGSI + "createdAt"),
        ("modifiedAt", NGSI + "modifiedAt"),
        ("unitCode", NGSI + "unitCode"),
        ("value", NGSI + "hasValue"),
        ("object", NGSI + "hasObject"),
        ("Property", NGSI + "Property"),
        ("Relationship", NGSI + "Relationship"),
        ("GeoProperty", NGSI + "GeoProperty"),
        ("Point", "https://purl.org/geojson/vocab#Point"),
        ("title", "http://purl.org/dc/terms/title"),
    ],
)
def test_core_terms_expand_and_compact_back(core: Context, term: str, iri: str) -> None:
    assert core.expand(term) == iri
    assert core.expand_type(term) == iri
    assert core.compact(iri) == term


def test_core_context_term_definitions_keep_type_and_container(core: Context) -> None:
    started = core.term("startAt")
    assert started is not None
    assert started.type == NGSI + "DateTime"
    values = core.term("valueList")
    assert values is not None
    assert values.iri == NGSI + "hasValueList"
    assert values.container == ("@list",)
    assert core.term("nothing-like-this") is None


def test_unknown_terms_expand_to_the_default_context_and_compact_back(core: Context) -> None:
    assert core.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert core.compact(DEFAULT_VOCAB + "temperature") == "temperature"
    assert core.expand_type("WeatherObserved") == DEFAULT_VOCAB + "WeatherObserved"


def test_absolute_iris_expand_and_compact_to_themselves(core: Context) -> None:
    for iri in ("https://schema.org/name", "http://example.org/a#b", "urn:ngsi-ld:Thing:1"):
        assert core.expand(iri) == iri
        assert core.compact(iri) == iri


def test_default_context_iri_of_a_core_term_name_is_not_compacted_to_that_name(
    core: Context,
) -> None:
    # "location" expands to ngsi-ld:location, so default-context/location needs the prefix
    for iri in (DEFAULT_VOCAB + "location", DEFAULT_VOCAB):
        assert core.compact(iri) == "ngsi-ld:" + iri.removeprefix(NGSI)
        assert core.expand(core.compact(iri)) == iri


def test_keyword_aliases_expand_to_keywords_but_never_compact_iris(core: Context) -> None:
    assert core.expand("type") == "@type"
    assert core.expand("id") == "@id"
    assert core.compact("@type") == "@type"


# -- user contexts ----------------------------------------------------------------------------


def test_user_context_defines_terms_and_its_vocab_wins(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(
        {"@vocab": "http://example.org/vocab/", "speed": "http://example.org/speed"}
    )
    assert ctx.expand("speed") == "http://example.org/speed"
    assert ctx.compact("http://example.org/speed") == "speed"
    assert ctx.expand("colour") == "http://example.org/vocab/colour"
    assert ctx.compact("http://example.org/vocab/colour") == "colour"
    assert ctx.expand("location") == NGSI + "location"  # core terms still apply
    assert ctx.vocab == "http://example.org/vocab/"
    assert not ctx.is_core_only
    assert ctx.urls == ()
    # default-context IRIs are no longer vocab-relative: they need the ngsi-ld prefix
    assert ctx.compact(DEFAULT_VOCAB + "colour") == "ngsi-ld:default-context/colour"


def test_core_terms_cannot_be_overridden(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(
        {
            "location": "http://example.org/location",
            "ngsi-ld": "http://example.org/not-ngsi/",
            "type": "http://example.org/type",
            "observedAt": {"@id": "http://example.org/observedAt", "@type": "@id"},
            "brand": "ngsi-ld:brand",
        }
    )
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.expand("observedAt") == NGSI + "observedAt"
    assert ctx.expand("type") == "@type"
    assert ctx.expand("brand") == NGSI + "brand"  # the core prefix, not the user's one
    assert ctx.compact(NGSI + "location") == "location"


def test_core_terms_cannot_be_overridden_by_a_remote_context(tmp_path: Path) -> None:
    (tmp_path / "override.jsonld").write_bytes(
        orjson.dumps({"@context": {"location": "http://example.org/location"}})
    )
    ctx = ContextResolver(tmp_path, allow_remote=False).resolve(
        "https://example.org/override.jsonld"
    )
    assert ctx.expand("location") == NGSI + "location"
    assert ctx.is_core_only
    assert ctx.urls == ("https://example.org/override.jsonld",)


def test_compact_iris_with_prefixes_expand_and_are_used_for_compaction(
    resolver: ContextResolver,
) -> None:
    ctx = resolver.resolve(
        {
            "ex": "http://example.org/",
            "sub": "ex:sub/",  # a prefix defined with a prefix: resolved recursively
            "deep": "sub:deep",
            "schema": "https://schema.org/",
        }
    )
    assert ctx.expand("ex:thing") == "http://example.org/thing"
    assert ctx.expand("deep") == "http://example.org/sub/deep"
    assert ctx.expand("sub:other") == "http://example.org/sub/other"
    assert ctx.expand("schema:name") == "https://schema.org/name"
    assert ctx.expand("ngsi-ld:anything") == NGSI + "anything"
    assert ctx.compact("https://schema.org/name") == "schema:name"
    assert ctx.compact("http://example.org/sub/other") == "sub:other"  # shortest wins
    assert ctx.compact("http://example.org/sub/deep") == "deep"
    assert ctx.compact(NGSI + "anything") == "ngsi-ld:anything"
    assert ctx.compact("https://elsewhere.org/x") == "https://elsewhere.org/x"


def test_terms_may_refer_to_terms_defined_later_in_the_same_object(
    resolver: ContextResolver,
) -> None:
    ctx = resolver.resolve({"name": "ex:name", "ex": "http://example.org/"})
    assert ctx.expand("name") == "http://example.org/name"


def test_cyclic_term_definitions_are_bad_request_data(resolver: ContextResolver) -> None:
    with pytest.raises(BadRequestData, match="cyclic"):
        resolver.resolve({"a": "b:x", "b": "a:y"})


def test_list_contexts_apply_in_order_later_entries_override(resolver: ContextResolver) -> None:
    ctx = resolver.resolve(
        [
            {"speed": "http://first.org/speed", "ex": "http://first.org/"},
            {"speed": "http://second.org/speed", "other": "ex:other"},
        ]
    )
    assert ctx.expand("speed") == "http://second.org/speed"
    assert ctx.expand("other") == "http://first.org/other"  # earlier prefix still visible
    assert ctx.compact("http://first.org/speed") == "ex:speed"


def test_null_resets_to_the_core_context(resolver: ContextResolver) -> None:
    ctx = resolver.resolve([{"speed": "http://example.org/speed"}, None])
    assert ctx.expand("speed") == DEFAULT_VOCAB + "speed"
    assert ctx is resolver.core()
    undefined = resolver.resolve([{"speed": "http://example.org/speed"}, {"speed": None}])
    assert undefined.expand("speed") == DEFAULT_VOCAB + "speed"


def test_several_terms_for_one_iri_compact_to_the_shortest_then_first(
    resolver: ContextResolver,
) -> None:
    ctx = resolver.resolve(
        {
            "vehicleSpeed": "http://example.org/speed",
            "spd": "http://example.org/speed",
            "abc": "http://example.org/speed",
        }
    )
    assert ctx.compact("http://example.org/speed") == "abc"
    assert ctx.expand("vehicleSpeed") == "http://example.org/speed"


def test_keyword_aliases_and_reverse_terms_are_not_used_for_compaction(
    resolver: ContextResolver,
) -> None:
    ctx = resolver.resolve(
        {
            "identifier": "@id",
            "kind": {"@id": "@type"},
            "parentOf": {"@reverse": "http://example.org/childOf"},
            "childOf": "http://example.org/childOf",
        }
    )
    assert ctx.expand("identifier") == "@id"
    assert ctx.compact("@id") == "@id"
    assert ctx.compact("http://example.org/childOf") == "childOf"
    assert ctx.term("parentOf") is None


@pytest.mark.parametrize(
    "bad",
    [
        42,
        [[{"a": "http://a/"}]],
        {"a": 42},
        {"a": {"@id": 42}},
        {"a": {"@id": "http://a/", "@container": 1}},
        {"@vocab": 42},
        {"@vocab": "not an iri"},
        "relative/context.jsonld",
        "urn:example:context",
        "https://",
    ],
)
def test_malformed_contexts_are_bad_request_data(resolver: ContextResolver, bad: Any) -> None:
    with pytest.raises(BadRequestData):
        resolver.resolve(bad)


def test_resolve_is_memoised_by_canonical_key(resolver: ContextResolver) -> None:
    a = resolver.resolve({"x": "http://e.org/x", "y": "http://e.org/y"})
    b = resolver.resolve({"y": "http://e.org/y", "x": "http://e.org/x"})
    assert a is b
    assert resolver.resolve({}) is resolver.core()
    assert resolver.resolve([]) is resolver.core()


def test_context_is_immutable(core: Context) -> None:
    with pytest.raises(AttributeError):
        core.vocab = "http://example.org/"


# -- core URLs --------------------------------------------------------------------------------


CORE_URLS = [
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
    *(f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.{n}.jsonld" for n in range(3, 10)),
    "http://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
]


@pytest.mark.parametrize("url", CORE_URLS)
def test_every_core_context_url_resolves_without_io(url: str, offline: None) -> None:
    resolver = ContextResolver(allow_remote=True)
    assert is_core_context_url(url)
    ctx = resolver.resolve(url)
    assert ctx is resolver.core()
    assert ctx.is_core_only
    assert ctx.urls == ()
    assert resolver.resolve([url]) is resolver.core()
    assert resolver.from_link_header(link(url)) is resolver.core()


def test_core_url_in_a_list_leaves_user_terms_alone(resolver: ContextResolver) -> None:
    ctx = resolver.resolve([{"speed": "http://example.org/speed"}, CORE_CONTEXT_URL])
    assert ctx.expand("speed") == "http://example.org/speed"


# -- context directory ------------------------------------------------------------------------


def test_directory_lookup_by_last_path_segment(tmp_path: Path, offline: None) -> None:
    (tmp_path / "my-context.jsonld").write_bytes(
        orjson.dumps({"@context": {"speed": "http://example.org/speed"}})
    )
    resolver = ContextResolver(tmp_path, allow_remote=True)
    url = "https://models.example.com/some/deep/path/my-context.jsonld?version=2#frag"
    ctx = resolver.resolve(url)
    assert ctx.expand("speed") == "http://example.org/speed"
    assert ctx.urls == (url,)
    other_host = resolver.resolve("http://elsewhere.example.org/my-context.jsonld")
    assert other_host.expand("speed") == "http://example.org/speed"


def test_directory_file_with_a_leading_url_line_is_tolerated(tmp_path: Path) -> None:
    (tmp_path / "with-url.jsonld").write_text(
        'https://example.org/with-url.jsonld\n{"@context": {"speed": "http://example.org/speed"}}'
    )
    ctx = ContextResolver(tmp_path, allow_remote=False).resolve("https://e.org/with-url.jsonld")
    assert ctx.expand("speed") == "http://example.org/speed"


def test_directory_lookup_does_not_escape_the_directory(tmp_path: Path) -> None:
    inner = tmp_path / "contexts"
    inner.mkdir()
    (tmp_path / "secret.jsonld").write_bytes(orjson.dumps({"@context": {"a": "http://a/"}}))
    resolver = ContextResolver(inner, allow_remote=False)
    for url in ("https://e.org/..%2Fsecret.jsonld", "https://e.org/..", "https://e.org/"):
        with pytest.raises(LdContextNotAvailable):
            resolver.resolve(url)


def test_shared_directory_resolves_the_test_suite_context(suite_contexts: Path) -> None:
    ctx = ContextResolver(suite_contexts, allow_remote=False).resolve(SUITE_URL)
    assert ctx.expand("speed") == SUITE_NS + "speed"
    assert ctx.expand_type("Vehicle") == SUITE_NS + "Vehicle"
    assert ctx.compact(SUITE_NS + "brandName") == "brandName"
    assert ctx.urls == (SUITE_URL,)


def test_shared_v1_4_core_file_with_leading_url_line_parses(suite_contexts: Path) -> None:
    # served under a non-core URL so that it is read from the directory, not the built-in copy
    url = "https://mirror.example.org/ngsi-ld-core-context-v1.4.jsonld"
    ctx = ContextResolver(suite_contexts, allow_remote=False).resolve(url)
    assert ctx.expand("location") == NGSI + "location"


def test_compound_test_suite_context_resolves_offline_through_the_directory(
    suite_contexts: Path, offline: None
) -> None:
    resolver = ContextResolver(suite_contexts, allow_remote=True)
    ctx = resolver.resolve(COMPOUND_URL)
    assert ctx.expand("speed") == SUITE_NS + "speed"
    assert ctx.compact(SUITE_NS + "OffStreetParking") == "OffStreetParking"
    assert ctx.expand("observedAt") == NGSI + "observedAt"
    assert ctx.urls == (COMPOUND_URL,)
    assert resolver.from_link_header(link(COMPOUND_URL)) is ctx


# -- remote contexts --------------------------------------------------------------------------


def test_remote_context_is_fetched_once_and_cached(
    server: _Server, remote: ContextResolver
) -> None:
    url = server.serve("/ctx.jsonld", {"@context": {"speed": "http://example.org/speed"}})
    assert remote.resolve(url).expand("speed") == "http://example.org/speed"
    assert remote.resolve(url).expand("speed") == "http://example.org/speed"
    # a different context using the same document reuses the cached document
    mixed = remote.resolve([url, {"colour": "http://example.org/colour"}])
    assert mixed.expand("speed") == "http://example.org/speed"
    assert remote.from_link_header(link(url)).compact("http://example.org/speed") == "speed"
    assert server.hits["/ctx.jsonld"] == 1
    assert server.accept[0] is not None
    assert "application/ld+json" in server.accept[0]


def test_remote_compound_context_is_resolved_recursively(
    server: _Server, remote: ContextResolver
) -> None:
    a = server.serve("/a.jsonld", {"@context": {"ex": "http://example.org/", "a": "ex:a"}})
    b = server.serve("/b.jsonld", {"@context": {"b": "ex:b"}})
    compound = server.serve("/compound.jsonld", {"@context": [a, b, CORE_CONTEXT_URL]})
    ctx = remote.resolve(compound)
    assert ctx.expand("a") == "http://example.org/a"
    assert ctx.expand("b") == "http://example.org/b"  # "ex" from the earlier document
    assert ctx.urls == (compound,)


def test_remote_context_cycles_are_detected(server: _Server, remote: ContextResolver) -> None:
    one = server.base + "/one.jsonld"
    two = server.serve("/two.jsonld", {"@context": [one]})
    server.serve("/one.jsonld", {"@context": [two]})
    with pytest.raises(BadRequestData, match="recursive"):
        remote.resolve(one)


def test_remote_context_nesting_is_limited(server: _Server, remote: ContextResolver) -> None:
    for n in range(20):
        server.serve(f"/n{n}.jsonld", {"@context": server.base + f"/n{n + 1}.jsonld"})
    server.serve("/n20.jsonld", {"@context": {}})
    with pytest.raises(BadRequestData, match="deep"):
        remote.resolve(server.base + "/n0.jsonld")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"not found", 404, "HTTP 404"),
        (b"<html>nope</html>", 200, "not a JSON"),
        (b'{"terms": {}}', 200, "no @context"),
        (b"[1, 2]", 200, "no @context"),
    ],
)
def test_unusable_remote_documents_are_ld_context_not_available(
    server: _Server, remote: ContextResolver, body: bytes, status: int, reason: str
) -> None:
    url = server.serve("/bad.jsonld", body, status=status)
    with pytest.raises(LdContextNotAvailable, match=reason) as info:
        remote.resolve(url)
    assert url in info.value.detail


def test_failures_are_remembered_briefly_then_retried(server: _Server) -> None:
    resolver = ContextResolver(allow_remote=True, timeout_s=5.0)
    resolver.NEGATIVE_TTL_S = 0.3
    url = server.base + "/later.jsonld"
    with pytest.raises(LdContextNotAvailable):
        resolver.resolve(url)
    server.serve("/later.jsonld", {"@context": {"speed": "http://example.org/speed"}})
    with pytest.raises(LdContextNotAvailable):
        resolver.resolve(url)
    assert server.hits["/later.jsonld"] == 1  # the failure is remembered...
    time.sleep(0.4)
    assert resolver.resolve(url).expand("speed") == "http://example.org/speed"
    assert server.hits["/later.jsonld"] == 2  # ...but only for NEGATIVE_TTL_S
    resolver.close()


def test_concurrent_first_requests_fetch_once(server: _Server, remote: ContextResolver) -> None:
    url = server.serve("/slow.jsonld", {"@context": {"speed": "http://example.org/speed"}})
    server.delay_s = 0.2
    barrier = threading.Barrier(8)
    results: list[Context] = []

    def worker() -> None:
        barrier.wait()
        results.append(remote.resolve(url))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert all(r.expand("speed") == "http://example.org/speed" for r in results)
    assert server.hits["/slow.jsonld"] == 1


def test_unreachable_server_is_ld_context_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = srv.server_address[1]
    srv.server_close()  # nothing listens on that port any more
    resolver = ContextResolver(allow_remote=True, timeout_s=2.0)
    with pytest.raises(LdContextNotAvailable, match="could not be fetched"):
        resolver.resolve(f"http://127.0.0.1:{port}/gone.jsonld")
    resolver.close()


def test_remote_disabled_is_ld_context_not_available(tmp_path: Path, offline: None) -> None:
    url = "https://example.org/contexts/missing.jsonld"
    for resolver in (ContextResolver(allow_remote=False), ContextResolver(tmp_path, False)):
        with pytest.raises(LdContextNotAvailable) as info:
            resolver.resolve(url)
        assert url in info.value.detail
        assert info.value.status == 504


# -- Link header ------------------------------------------------------------------------------


def test_link_header_round_trip(tmp_path: Path) -> None:
    (tmp_path / "ctx.jsonld").write_bytes(orjson.dumps({"@context": {"a": "http://e.org/a"}}))
    resolver = ContextResolver(tmp_path, allow_remote=False)
    url = "https://example.org/ctx.jsonld"
    header = link_header(url)
    assert header == f'<{url}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'
    ctx = resolver.from_link_header(header)
    assert ctx.expand("a") == "http://e.org/a"
    assert ctx.urls == (url,)
    assert resolver.from_link_header(header) is ctx
    # unquoted parameters, other spacing and other parameters are accepted too
    loose = f"<{url}>;rel={JSONLD_CONTEXT_REL} ;type=application/ld+json; title=x"
    assert resolver.from_link_header(loose) is ctx


def test_link_header_escapes_characters_that_would_break_the_header() -> None:
    header = link_header("https://e.org/a b>\r\nX-Evil: 1")
    assert "\r" not in header
    assert "\n" not in header
    assert header.startswith("<https://e.org/a%20b%3E%0D%0AX-Evil:%201>;")


def test_no_link_header_means_core(resolver: ContextResolver) -> None:
    assert resolver.from_link_header(None) is resolver.core()
    assert resolver.from_link_header("") is resolver.core()


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ('<https://example.org/ctx.jsonld>; type="application/ld+json"', "no rel"),
        ('<https://example.org/ctx.jsonld>; rel="next"', "no link with rel"),
        (
            link("https://example.org/a.jsonld") + ", " + link("https://example.org/b.jsonld"),
            "more",
        ),
        ("https://example.org/ctx.jsonld", "expected '<'"),
        ('<https://example.org/ctx.jsonld; rel="x"', "missing '>'"),
        ('<https://example.org/ctx.jsonld>; rel="unterminated', "unterminated"),
        ("<https://example.org/ctx.jsonld> garbage", "unexpected"),
        (";;;", "expected '<'"),
        (link(""), "empty"),
        (link("not a url"), "not an absolute"),
    ],
)
def test_malformed_link_headers_are_bad_request_data(
    resolver: ContextResolver, header: str, reason: str
) -> None:
    with pytest.raises(BadRequestData, match=reason):
        resolver.from_link_header(header)


def test_link_header_may_carry_other_links(tmp_path: Path) -> None:
    (tmp_path / "ctx.jsonld").write_bytes(orjson.dumps({"@context": {"a": "http://e.org/a"}}))
    resolver = ContextResolver(tmp_path, allow_remote=False)
    header = '<https://e.org/page2>; rel="next", ' + link("https://example.org/ctx.jsonld")
    assert resolver.from_link_header(header).expand("a") == "http://e.org/a"


# -- speed ------------------------------------------------------------------------------------


def test_expand_and_compact_are_memoised_and_fast(core: Context) -> None:
    core.expand("temperature")
    core.compact(DEFAULT_VOCAB + "temperature")
    n = 100_000
    start = time.perf_counter()
    for _ in range(n):
        core.expand("temperature")
        core.compact(NGSI + "location")
    per_call = (time.perf_counter() - start) / (2 * n)
    assert per_call < 5e-6  # about 0.06 us on a laptop; generous for loaded CI machines


# -- properties -------------------------------------------------------------------------------

_terms = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,24}", fullmatch=True).filter(
    lambda t: t not in CORE_TERMS
)


@given(term=_terms)
def test_undefined_terms_round_trip(term: str) -> None:
    core = ContextResolver(allow_remote=False).core()
    iri = core.expand(term)
    assert iri == DEFAULT_VOCAB + term
    assert core.compact(iri) == term


@given(terms=st.lists(_terms, min_size=1, max_size=8, unique=True), extra=_terms)
def test_user_terms_round_trip(terms: list[str], extra: str) -> None:
    resolver = ContextResolver(allow_remote=False)
    local: dict[str, Any] = {"@vocab": "http://vocab.example.org/"}
    local |= {t: f"http://example.org/ns#{t}" for t in terms}
    ctx = resolver.resolve(local)
    for t in [*terms, extra]:
        assert ctx.compact(ctx.expand(t)) == t


_link_like = st.builds(
    lambda url, params: f"<{url}>{params}",
    st.one_of(st.text(max_size=40), st.sampled_from([SUITE_URL, CORE_CONTEXT_URL, "http://x"])),
    st.lists(
        st.sampled_from([*' ;=",<>\\\t', "rel", "type", JSONLD_CONTEXT_REL, "application/ld+json"]),
        max_size=12,
    ).map("".join),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.one_of(st.text(max_size=200), _link_like))
def test_from_link_header_raises_only_project_errors(header: str) -> None:
    resolver = ContextResolver(allow_remote=False)
    try:
        ctx = resolver.from_link_header(header)
    except CetateError:
        return
    assert isinstance(ctx, Context)
