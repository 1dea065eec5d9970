"""JSON-LD @context resolution, term expansion and IRI compaction for the NGSI-LD hub.

The broker does not run the JSON-LD expansion and compaction algorithms on documents (far too
slow for every request); like other NGSI-LD brokers it maps names to IRIs with the *active
context* and back:

* a context is a URL, an inline object (term -> IRI, or term -> ``{"@id", "@type",
  "@container"}``), ``null`` (reset) or a list of those, processed in order (later entries
  override earlier ones); documents behind URLs may themselves refer to other URLs (compound
  contexts), followed with a depth limit and cycle detection;
* the NGSI-LD core context is always part of the effective context and @protected: its terms
  cannot be redefined. A user ``@vocab`` does replace the core one for undefined terms;
* any core-context URL (any version, http or https) is the built-in ``CORE_CONTEXT``: no I/O;
* other URLs are first looked up in the context directory (by the URL's last path segment),
  then fetched over HTTP(S) once and kept in a bounded LRU cache; failures are remembered for
  ``ContextResolver.NEGATIVE_TTL_S`` seconds only.

``Context`` objects are immutable apart from their memo caches, so ``expand`` and ``compact``
of a name seen before cost one dict lookup.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from cetate.errors import BadRequestData, CetateError, LdContextNotAvailable
from cetate.hub.core_context import CORE_CONTEXT, DEFAULT_VOCAB

__all__ = [
    "JSONLD_CONTEXT_REL",
    "Context",
    "ContextResolver",
    "TermDefinition",
    "is_core_context_url",
    "link_header",
]

#: The ``rel`` of a Link header that carries a JSON-LD context.
JSONLD_CONTEXT_REL: Final = "http://www.w3.org/ns/json-ld#context"

_ACCEPT: Final = "application/ld+json, application/json;q=0.9, */*;q=0.1"
_MAX_DOCUMENT_BYTES: Final = 4 * 1024 * 1024
_MAX_DEPTH: Final = 8  # nesting of remote contexts inside remote contexts
_MAX_REMOTE_PER_RESOLUTION: Final = 64  # URL references followed for one context
_MAX_MEMO: Final = 65_536  # expand/compact memo entries per Context before it is cleared
_FETCH_LOCK_STRIPES: Final = 64

_CORE_URL_RE: Final = re.compile(
    r"https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(?:-v\d+(?:\.\d+)*)?\.jsonld"
)
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_GEN_DELIMS: Final = frozenset(":/?#[]@")


def is_core_context_url(url: str) -> bool:
    """Whether ``url`` names the NGSI-LD core context (any version, http or https)."""
    return _CORE_URL_RE.fullmatch(url) is not None


def link_header(context_url: str) -> str:
    """The value of a ``Link`` response header pointing at ``context_url``.

    Characters that cannot appear inside ``<...>`` of a header (controls, spaces, ``<>"``,
    non-ASCII) are percent-encoded, so a URL taken from a request can never split the header.
    """
    safe = "".join(
        c if 0x20 < ord(c) < 0x7F and c not in '<>"' else "".join(f"%{b:02X}" for b in c.encode())
        for c in context_url
    )
    return f'<{safe}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'


class TermDefinition(NamedTuple):
    """One term of an effective context."""

    iri: str  #: the expanded IRI, or a keyword (``@id``, ``@type``) for keyword aliases
    type: str | None = None  #: expanded ``@type`` (``@id``, ``@vocab``, ``@json`` or an IRI)
    container: tuple[str, ...] = ()  #: ``@container`` values
    prefix: bool = False  #: usable as the prefix of a compact IRI when compacting
    keyword: bool = False  #: a keyword alias such as ``"type": "@type"``


def _is_prefix(raw: Any, term: str, iri: str) -> bool:
    # JSON-LD 1.1: a simple term definition whose IRI ends with a gen-delim, or "@prefix": true.
    if ":" in term or "/" in term:
        return False
    if isinstance(raw, dict):
        return raw.get("@prefix") is True
    return bool(iri) and iri[-1] in _GEN_DELIMS


class _Builder:
    """Applies local contexts, in order, on top of the protected core definitions."""

    __slots__ = ("changed", "defs", "protected", "vocab")

    def __init__(self, core_defs: Mapping[str, TermDefinition]) -> None:
        self.defs: dict[str, TermDefinition] = dict(core_defs)
        self.protected = core_defs.keys()
        self.vocab = DEFAULT_VOCAB
        self.changed = False

    def reset(self) -> None:
        """``"@context": null``: back to the core context only."""
        if self.changed:
            self.defs = {t: d for t, d in self.defs.items() if t in self.protected}
            self.vocab = DEFAULT_VOCAB
            self.changed = False

    def apply(self, local: Mapping[str, Any]) -> None:
        """Apply one local context object (its ``@import`` already merged in)."""
        done: set[str] = set()
        defining: list[str] = []

        def define(term: str) -> None:
            if term in done:
                return
            if term in defining:
                cycle = " -> ".join([*defining[defining.index(term) :], term])
                raise BadRequestData(f"invalid @context: cyclic term definition {cycle}")
            if term in self.protected or term.startswith("@") or not term:
                done.add(term)  # protected core terms silently keep their core definition
                return
            defining.append(term)
            try:
                td = self._term_definition(term, local[term], expand)
            finally:
                defining.pop()
            if td is None:
                self.defs.pop(term, None)
            else:
                self.defs[term] = td
            self.changed = True
            done.add(term)

        def expand(value: str, current: str) -> str:
            """IRI expansion of a term-definition value (vocab-relative), JSON-LD style."""
            if value.startswith("@"):
                return value
            colon = value.find(":")
            if colon >= 0:
                prefix, suffix = value[:colon], value[colon + 1 :]
                if prefix == "_" or suffix.startswith("//"):
                    return value
                if prefix in local and prefix != current:
                    define(prefix)
                td = self.defs.get(prefix)
                if td is not None and not td.keyword:
                    return td.iri + suffix
                return value
            if value in local and value != current:
                define(value)
            td = self.defs.get(value)
            if td is not None:
                return td.iri
            return self.vocab + value

        if "@vocab" in local:
            vocab = local["@vocab"]
            if vocab is None:
                self.vocab = DEFAULT_VOCAB
            elif isinstance(vocab, str) and vocab and not vocab.startswith("@"):
                self.vocab = expand(vocab, "@vocab")
                if _SCHEME_RE.match(self.vocab) is None or any(ord(c) <= 0x20 for c in self.vocab):
                    raise BadRequestData(f"invalid @context: @vocab {vocab!r} is not an IRI")
            else:
                raise BadRequestData(f"invalid @context: @vocab must be an IRI, not {vocab!r}")
            self.changed = True
        for key in local:
            if not key.startswith("@"):  # @version, @protected, @base, @language... are ignored
                define(key)

    def _term_definition(
        self, term: str, raw: Any, expand: Callable[[str, str], str]
    ) -> TermDefinition | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            iri = expand(raw, term)
            if iri.startswith("@"):
                return TermDefinition(iri, keyword=True)
            return TermDefinition(iri, prefix=_is_prefix(raw, term, iri))
        if not isinstance(raw, dict):
            raise BadRequestData(
                f"invalid @context: the definition of {term!r} must be a string or an object"
            )
        if "@reverse" in raw:
            return None  # reverse properties do not name attributes
        if "@id" in raw:
            raw_id = raw["@id"]
            if raw_id is None:
                return None
            if not isinstance(raw_id, str):
                raise BadRequestData(f"invalid @context: the @id of {term!r} must be a string")
            iri = expand(raw_id, term)
        else:
            # no @id: a compact IRI / IRI term stands for itself, a plain term is vocab-relative
            iri = expand(term, term) if ":" in term else self.vocab + term
        if iri.startswith("@"):
            return TermDefinition(iri, keyword=True)
        raw_type = raw.get("@type")
        if raw_type is not None and not isinstance(raw_type, str):
            raise BadRequestData(f"invalid @context: the @type of {term!r} must be a string")
        container = raw.get("@container")
        if container is None:
            containers: tuple[str, ...] = ()
        elif isinstance(container, str):
            containers = (container,)
        elif isinstance(container, list) and all(isinstance(c, str) for c in container):
            containers = tuple(container)
        else:
            raise BadRequestData(f"invalid @context: bad @container for {term!r}")
        return TermDefinition(
            iri,
            type=None if raw_type is None else expand(raw_type, term),
            container=containers,
            prefix=_is_prefix(raw, term, iri),
        )


def _core_definitions() -> dict[str, TermDefinition]:
    builder = _Builder({})
    builder.apply(CORE_CONTEXT)
    return builder.defs


_CORE_DEFS: Final[Mapping[str, TermDefinition]] = MappingProxyType(_core_definitions())


class Context:
    """An effective @context: the user's contexts plus the protected NGSI-LD core context.

    Immutable (only its memo caches change), so one instance is shared by every request that
    uses the same @context, from any thread.
    """

    __slots__ = (
        "_compact_memo",
        "_defs",
        "_expand_memo",
        "_prefixes",
        "_reverse",
        "_seed",
        "is_core_only",
        "key",
        "urls",
        "vocab",
    )

    urls: tuple[str, ...]  #: the user context URLs (top level, core excluded), for Link headers
    is_core_only: bool  #: True when the user contexts define no term and no @vocab
    vocab: str  #: the @vocab undefined terms expand against
    key: bytes | str  #: the canonical key it was memoised under
    _defs: Mapping[str, TermDefinition]
    _reverse: dict[str, str]
    _prefixes: tuple[tuple[str, str], ...]
    _seed: dict[str, str]
    _expand_memo: dict[str, str]
    _compact_memo: dict[str, str]

    def __init__(
        self,
        definitions: Mapping[str, TermDefinition],
        vocab: str = DEFAULT_VOCAB,
        urls: Iterable[str] = (),
        *,
        is_core_only: bool = False,
        key: bytes | str = b"",
    ) -> None:
        set_ = object.__setattr__
        set_(self, "urls", tuple(urls))
        set_(self, "is_core_only", is_core_only)
        set_(self, "vocab", vocab)
        set_(self, "key", key)
        set_(self, "_defs", MappingProxyType(dict(definitions)))
        reverse: dict[str, str] = {}
        for term, td in definitions.items():
            if td.keyword:
                continue
            best = reverse.get(td.iri)
            if best is None or (len(term), term) < (len(best), best):
                reverse[td.iri] = term
        prefixes = sorted(
            ((td.iri, term) for term, td in definitions.items() if td.prefix and not td.keyword),
            key=lambda p: (-len(p[0]), p[1]),
        )
        set_(self, "_reverse", reverse)
        set_(self, "_prefixes", tuple(prefixes))
        seed = {term: td.iri for term, td in definitions.items()}
        set_(self, "_seed", seed)
        set_(self, "_expand_memo", dict(seed))
        set_(self, "_compact_memo", dict(reverse))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Context is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Context is immutable")

    def __repr__(self) -> str:
        return f"Context(urls={self.urls!r}, is_core_only={self.is_core_only})"

    @property
    def definitions(self) -> Mapping[str, TermDefinition]:
        """Every defined term (core ones included), read-only."""
        return self._defs

    def term(self, term: str) -> TermDefinition | None:
        """The definition of ``term`` (for its ``@type`` / ``@container``), if any."""
        return self._defs.get(term)

    # -- expansion ------------------------------------------------------------------------------

    def expand(self, term: str) -> str:
        """The IRI of an attribute name or entity type.

        A defined term gives its IRI (a keyword alias gives the keyword, e.g. ``type`` ->
        ``@type``); an absolute IRI stays as it is; ``prefix:suffix`` with a defined prefix is
        expanded; anything else is appended to the @vocab.
        """
        iri = self._expand_memo.get(term)
        if iri is None:
            iri = self._expand_miss(term)
        return iri

    expand_type = expand
    """Entity types expand like attribute names (JSON-LD vocab-relative expansion)."""

    def _expand_miss(self, term: str) -> str:
        iri = self._seed.get(term)
        if iri is None:
            iri = self._expand_uncached(term)
        memo = self._expand_memo
        if len(memo) >= _MAX_MEMO:
            memo.clear()
            memo.update(self._seed)
        memo[term] = iri
        return iri

    def _expand_uncached(self, term: str) -> str:
        if term.startswith("@"):
            return term
        colon = term.find(":")
        if colon < 0:
            return self.vocab + term
        prefix, suffix = term[:colon], term[colon + 1 :]
        if prefix != "_" and not suffix.startswith("//"):
            td = self._defs.get(prefix)
            if td is not None and not td.keyword:
                return td.iri + suffix
        if _SCHEME_RE.match(term) is not None:
            return term  # an absolute IRI (or a blank node identifier)
        return self.vocab + term

    # -- compaction -----------------------------------------------------------------------------

    def compact(self, iri: str) -> str:
        """The shortest name that expands back to ``iri`` (a term, a @vocab-relative name or a
        compact IRI), else ``iri`` itself."""
        name = self._compact_memo.get(iri)
        if name is None:
            name = self._compact_miss(iri)
        return name

    def _compact_miss(self, iri: str) -> str:
        name = self._reverse.get(iri)
        if name is None:
            name = self._compact_uncached(iri)
        memo = self._compact_memo
        if len(memo) >= _MAX_MEMO:
            memo.clear()
            memo.update(self._reverse)
        memo[iri] = name
        return name

    def _compact_uncached(self, iri: str) -> str:
        if iri.startswith("@"):
            return iri
        vocab = self.vocab
        if len(iri) > len(vocab) and iri.startswith(vocab):
            name = iri[len(vocab) :]
            if self.expand(name) == iri:
                return name
        best: str | None = None
        for prefix_iri, prefix in self._prefixes:
            if len(iri) > len(prefix_iri) and iri.startswith(prefix_iri):
                name = f"{prefix}:{iri[len(prefix_iri) :]}"
                if (best is None or (len(name), name) < (len(best), best)) and self.expand(
                    name
                ) == iri:
                    best = name
        return iri if best is None else best


class _Failure(NamedTuple):
    until: float
    detail: str


class _LRU:
    """A small thread-safe LRU map."""

    __slots__ = ("_data", "_lock", "_size")

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._size = max(1, size)

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def pop(self, key: Any) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def _parse_document(data: bytes, source: str) -> Any:
    """The "@context" member of a context document (a leading non-JSON line is tolerated)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        first, newline, rest = data.lstrip().partition(b"\n")
        doc = None
        if newline and not first.lstrip().startswith((b"{", b"[")):
            try:
                doc = orjson.loads(rest)
            except orjson.JSONDecodeError:
                doc = None
        if doc is None:
            raise LdContextNotAvailable(
                f"@context {source} is not a JSON document ({exc.msg})", url=source
            ) from None
    if not isinstance(doc, dict) or "@context" not in doc:
        raise LdContextNotAvailable(
            f"@context {source} is not a JSON-LD context document (no @context member)", url=source
        )
    return doc["@context"]


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ord(c) <= 0x20 or c in '<>"\\^`{|}' for c in url)
    ):
        raise BadRequestData(f"invalid @context: {url!r} is not an absolute http(s) URL")


class _Resolution:
    """Book-keeping for one ``resolve`` call (remote references followed so far)."""

    __slots__ = ("remote_count",)

    def __init__(self) -> None:
        self.remote_count = 0


class ContextResolver:
    """Turns @context values into ``Context`` objects; one per application, thread-safe."""

    #: Seconds a failed fetch (or a directory miss with remote fetching off) is remembered.
    NEGATIVE_TTL_S: float = 30.0

    def __init__(
        self,
        directory: Path | None = None,
        allow_remote: bool = True,
        timeout_s: float = 5.0,
        cache_size: int = 256,
    ) -> None:
        self.directory = None if directory is None else Path(directory)
        self.allow_remote = allow_remote
        self.timeout_s = timeout_s
        self._core = Context(_CORE_DEFS, DEFAULT_VOCAB, (), is_core_only=True, key="core")
        self._contexts = _LRU(cache_size)  # canonical key (bytes / str) -> Context
        self._links = _LRU(cache_size)  # raw Link header -> Context
        self._documents = _LRU(cache_size)  # URL -> ("@context" member of the document,)
        self._failures: dict[str, _Failure] = {}
        self._failures_lock = threading.Lock()
        self._fetch_locks = tuple(threading.Lock() for _ in range(_FETCH_LOCK_STRIPES))
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    # -- public API ----------------------------------------------------------------------------

    def core(self) -> Context:
        """The context of requests that bring none: the NGSI-LD core context alone."""
        return self._core

    def resolve(self, context: Any) -> Context:
        """The effective context of a ``@context`` value (URL, object, list or null)."""
        if type(context) is str:
            key: bytes | str = context
        else:
            try:
                key = orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
            except (TypeError, orjson.JSONEncodeError):
                raise BadRequestData("invalid @context: not a JSON value") from None
        found: Context | None = self._contexts.get(key)
        if found is not None:
            return found
        ctx = self._build(context, key)
        self._contexts.put(key, ctx)
        return ctx

    def from_link_header(self, link: str | None) -> Context:
        """The context named by a request's ``Link`` header (``None`` or empty: core only)."""
        if link is None:
            return self._core
        found: Context | None = self._links.get(link)
        if found is not None:
            return found
        url = _context_link_url(link)
        ctx = self._core if url is None else self.resolve(url)
        self._links.put(link, ctx)
        return ctx

    def close(self) -> None:
        """Close the HTTP client (if one was opened)."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def clear(self) -> None:
        """Forget every cached context, document and failure."""
        self._contexts.clear()
        self._links.clear()
        self._documents.clear()
        with self._failures_lock:
            self._failures.clear()

    # -- building ------------------------------------------------------------------------------

    def _build(self, context: Any, key: bytes | str) -> Context:
        items = context if isinstance(context, list) else [context]
        urls = tuple(u for u in items if isinstance(u, str) and not is_core_context_url(u))
        builder = _Builder(_CORE_DEFS)
        run = _Resolution()
        for item in items:
            if isinstance(item, list):
                raise BadRequestData("invalid @context: a list inside a list")
            self._apply(item, builder, run, ())
        if not builder.changed and not urls:
            return self._core
        return Context(builder.defs, builder.vocab, urls, is_core_only=not builder.changed, key=key)

    def _apply(
        self, item: Any, builder: _Builder, run: _Resolution, chain: tuple[str, ...]
    ) -> None:
        if item is None:
            builder.reset()
        elif isinstance(item, str):
            if is_core_context_url(item):
                return  # the core context is always there
            if item in chain:
                cycle = " -> ".join([*chain[chain.index(item) :], item])
                raise BadRequestData(f"invalid @context: recursive context inclusion {cycle}")
            if len(chain) >= _MAX_DEPTH:
                raise BadRequestData(
                    f"invalid @context: remote contexts nested more than {_MAX_DEPTH} deep"
                )
            run.remote_count += 1
            if run.remote_count > _MAX_REMOTE_PER_RESOLUTION:
                raise BadRequestData(
                    f"invalid @context: more than {_MAX_REMOTE_PER_RESOLUTION} remote contexts"
                )
            value = self._document(item)
            inner = value if isinstance(value, list) else [value]
            try:
                for sub in inner:
                    if isinstance(sub, list):
                        raise BadRequestData("invalid @context: a list inside a list")
                    self._apply(sub, builder, run, (*chain, item))
            except BadRequestData as exc:
                if "url" in exc.extra:  # already names the innermost document
                    raise
                raise BadRequestData(f"{exc.detail} (in {item})", url=item) from None
        elif isinstance(item, dict):
            if "@import" in item:
                imported = self._import(item["@import"], run, chain)
                item = {**imported, **{k: v for k, v in item.items() if k != "@import"}}
            builder.apply(item)
        else:
            raise BadRequestData(
                f"invalid @context: expected a URL, an object or a list, not {item!r:.80}"
            )

    def _import(self, url: Any, run: _Resolution, chain: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(url, str):
            raise BadRequestData("invalid @context: @import must be a URL")
        if is_core_context_url(url):
            return {}
        if url in chain or len(chain) >= _MAX_DEPTH:
            raise BadRequestData(f"invalid @context: recursive @import of {url}")
        run.remote_count += 1
        value = self._document(url)
        if not isinstance(value, dict) or "@import" in value:
            raise BadRequestData(f"invalid @context: @import {url} is not a single context object")
        return value

    # -- documents -----------------------------------------------------------------------------

    def _document(self, url: str) -> Any:
        """The "@context" member of the document at ``url`` (cached)."""
        cached = self._documents.get(url)
        if cached is not None:
            return cached[0]
        self._raise_recent_failure(url)
        with self._fetch_locks[hash(url) % _FETCH_LOCK_STRIPES]:
            cached = self._documents.get(url)  # another thread may have just loaded it
            if cached is not None:
                return cached[0]
            self._raise_recent_failure(url)
            try:
                value = self._load(url)
            except LdContextNotAvailable as exc:
                with self._failures_lock:
                    if len(self._failures) > 4 * 1024:
                        now = time.monotonic()
                        self._failures = {u: f for u, f in self._failures.items() if f.until > now}
                    self._failures[url] = _Failure(
                        time.monotonic() + self.NEGATIVE_TTL_S, exc.detail
                    )
                raise
            self._documents.put(url, (value,))
            return value

    def _raise_recent_failure(self, url: str) -> None:
        failure = self._failures.get(url)
        if failure is not None:
            if failure.until > time.monotonic():
                raise LdContextNotAvailable(failure.detail, url=url)
            with self._failures_lock:
                self._failures.pop(url, None)

    def _load(self, url: str) -> Any:
        _check_url(url)
        data = self._read_directory(url)
        if data is not None:
            return _parse_document(data, url)
        if not self.allow_remote:
            where = f" and not in {self.directory}" if self.directory is not None else ""
            raise LdContextNotAvailable(
                f"@context {url} is not available: remote contexts are disabled{where}", url=url
            )
        return _parse_document(self._fetch(url), url)

    def _read_directory(self, url: str) -> bytes | None:
        if self.directory is None:
            return None
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if name in ("", ".", "..") or any(c in name for c in "/\\\x00"):
            return None
        path = self.directory / name
        try:
            with path.open("rb") as f:
                data = f.read(_MAX_DOCUMENT_BYTES + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            raise LdContextNotAvailable(
                f"@context {url}: cannot read {path}: {exc.strerror or exc}", url=url
            ) from None
        if len(data) > _MAX_DOCUMENT_BYTES:
            raise LdContextNotAvailable(f"@context {url}: {path} is too large", url=url)
        return data

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.timeout_s,
                    follow_redirects=True,
                    headers={"Accept": _ACCEPT},
                )
            return self._client

    def _fetch(self, url: str) -> bytes:
        deadline = time.monotonic() + 2 * self.timeout_s
        try:
            with self._http().stream("GET", url) as response:
                if not 200 <= response.status_code < 300:
                    raise LdContextNotAvailable(
                        f"@context {url} could not be fetched: HTTP {response.status_code}",
                        url=url,
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_DOCUMENT_BYTES:
                        raise LdContextNotAvailable(f"@context {url} is too large", url=url)
                    if time.monotonic() > deadline:
                        raise LdContextNotAvailable(f"@context {url}: download too slow", url=url)
                return bytes(body)
        except CetateError:
            raise
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            raise LdContextNotAvailable(
                f"@context {url} could not be fetched: {reason}", url=url
            ) from None


# -- Link header ------------------------------------------------------------------------------

_TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BARE_VALUE_RE: Final = re.compile(r"[^\s;,\"]+")
_OWS: Final = " \t"


def _skip_ows(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _OWS:
        pos += 1
    return pos


def _parse_links(text: str) -> list[tuple[str, dict[str, str | None]]]:
    """RFC 8288 ``Link`` header value -> [(uri, {param: value})]; ``BadRequestData`` if bad."""

    def bad(why: str) -> BadRequestData:
        return BadRequestData(f"invalid Link header: {why}")

    links: list[tuple[str, dict[str, str | None]]] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and (text[pos] in _OWS or text[pos] == ","):
            pos += 1
        if pos >= end:
            return links
        if text[pos] != "<":
            raise bad("expected '<' at the start of a link")
        close = text.find(">", pos + 1)
        if close < 0:
            raise bad("missing '>'")
        uri = text[pos + 1 : close].strip()
        pos = close + 1
        params: dict[str, str | None] = {}
        while True:
            pos = _skip_ows(text, pos)
            if pos >= end or text[pos] == ",":
                break
            if text[pos] != ";":
                raise bad(f"unexpected {text[pos]!r} after a link")
            pos = _skip_ows(text, pos + 1)
            match = _TOKEN_RE.match(text, pos)
            if match is None:
                raise bad("missing parameter name")
            name = match.group().lower()
            pos = _skip_ows(text, match.end())
            value: str | None = None
            if pos < end and text[pos] == "=":
                pos = _skip_ows(text, pos + 1)
                if pos < end and text[pos] == '"':
                    pos += 1
                    chars: list[str] = []
                    while pos < end and text[pos] != '"':
                        if text[pos] == "\\" and pos + 1 < end:
                            pos += 1
                        chars.append(text[pos])
                        pos += 1
                    if pos >= end:
                        raise bad("unterminated quoted string")
                    pos += 1
                    value = "".join(chars)
                else:
                    bare = _BARE_VALUE_RE.match(text, pos)
                    if bare is None:
                        raise bad(f"missing value of {name!r}")
                    value = bare.group()
                    pos = bare.end()
            params.setdefault(name, value)  # RFC 8288: later occurrences are ignored
        links.append((uri, params))


def _context_link_url(text: str) -> str | None:
    """The URL of the JSON-LD context link of a Link header (None when there is no link)."""
    links = _parse_links(text)
    if not links:
        return None
    found: list[str] = []
    for uri, params in links:
        rel = params.get("rel")
        if not rel:
            raise BadRequestData(f"invalid Link header: the link to {uri!r} has no rel")
        if JSONLD_CONTEXT_REL in rel.split():
            found.append(uri)
    if len(found) > 1:
        raise BadRequestData("invalid Link header: more than one JSON-LD context link")
    if not found:
        raise BadRequestData(f'invalid Link header: no link with rel="{JSONLD_CONTEXT_REL}"')
    if not found[0]:
        raise BadRequestData("invalid Link header: empty context URL")
    return found[0]
