"""How a module puts itself into the operations room: a page and map layers, registered once.

A module describes what it shows as data (``UiModule`` with ``LayerSpec``s) and registers it
with ``register``; the web layer serves every registered module through one configuration
document (``/ui/config``), so the browser builds its navigation and layer switches from it and
nothing in the page is written per module. The map itself and the hub explorer are the first two
modules (``cetate.web.ui.modules``); a domain module adds its own the same way.

A layer's colour comes from its entities' state. The state is worked out on the server from
``StyleRule``s, the first rule that matches wins, so the browser only ever receives a state name
per entity: the same rule decides the colour on the first load and on a live update.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Scalar = str | int | float | bool

_ID = re.compile(r"^[a-z][a-z0-9-]*$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class StyleRule:
    """Entities whose ``attribute`` matches are in ``state``, drawn in ``colour``.

    With ``equals`` the attribute's (keyValues) value must be one of them; with ``below`` it must
    be a number under it; with neither, any value matches; a rule without ``attribute`` always
    matches (the fallback, put last). A missing attribute never matches a rule that names it."""

    state: str
    colour: str
    label_en: str
    label_ro: str
    attribute: str | None = None
    equals: tuple[Scalar, ...] = ()
    below: float | None = None

    def matches(self, values: Mapping[str, Any]) -> bool:
        if self.attribute is None:
            return True
        if self.attribute not in values:
            return False
        value = values[self.attribute]
        if self.equals and not any(_same(value, wanted) for wanted in self.equals):
            return False
        return self.below is None or (_is_number(value) and value < self.below)


@dataclass(frozen=True)
class LayerSpec:
    """One switchable map layer: the located entities of ``entity_types``, coloured by rules."""

    id: str
    title_en: str
    title_ro: str
    entity_types: tuple[str, ...]
    rules: tuple[StyleRule, ...] = ()
    visible: bool = True  # switched on when the page opens

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"layer id {self.id!r}: lowercase letters, digits and '-' only")
        if not self.entity_types:
            raise ValueError(f"layer {self.id}: no entity type")
        for rule in self.rules:
            if not _COLOUR.match(rule.colour):
                raise ValueError(f"layer {self.id}: colour {rule.colour!r} is not #rrggbb")

    @property
    def attributes(self) -> frozenset[str]:
        """The attributes the rules read: all a state needs of an entity."""
        return frozenset(r.attribute for r in self.rules if r.attribute is not None)

    def state(self, values: Mapping[str, Any]) -> str:
        """The state of an entity with these keyValues attributes ("" when no rule matches)."""
        for rule in self.rules:
            if rule.matches(values):
                return rule.state
        return ""

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": {"en": self.title_en, "ro": self.title_ro},
            "types": list(self.entity_types),
            "visible": self.visible,
            "states": _legend(self.rules),
        }


@dataclass(frozen=True)
class UiModule:
    """A page of the operations room and the layers it adds to the map.

    ``script`` is the module's own JavaScript under /static (``None`` for a module that only adds
    layers); it calls ``cetate.pages.register(id, {mount, unmount})`` when loaded, and the page
    loads it the first time someone opens the module."""

    id: str
    title_en: str
    title_ro: str
    script: str | None = None
    layers: tuple[LayerSpec, ...] = ()
    order: int = 100  # position in the navigation, lowest first
    # A GET path answering ``{"count": n, "severity": ...}``: shown beside the module's name
    # in the navigation and read again every half minute (open alerts, say); None for none.
    badge: str | None = None

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"module id {self.id!r}: lowercase letters, digits and '-' only")
        if self.script is not None and not self.script.startswith("/static/"):
            raise ValueError(f"module {self.id}: script {self.script!r} must be under /static/")
        if self.badge is not None and not self.badge.startswith("/"):
            raise ValueError(f"module {self.id}: badge {self.badge!r} must be a path")

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": {"en": self.title_en, "ro": self.title_ro},
            "script": self.script,
            "layers": [layer.id for layer in self.layers],
            "badge": self.badge,
        }


@dataclass
class Registry:
    """The modules of one running app, in navigation order."""

    modules: dict[str, UiModule] = field(default_factory=dict)

    def register(self, module: UiModule) -> None:
        if module.id in self.modules:
            raise ValueError(f"a UI module {module.id!r} is already registered")
        taken = {layer.id for layer in self.layers()}
        types = {t for layer in self.layers() for t in layer.entity_types}
        for layer in module.layers:
            if layer.id in taken:
                raise ValueError(f"module {module.id}: layer {layer.id!r} is already registered")
            claimed = types.intersection(layer.entity_types)
            if claimed:  # one entity is in one layer, or a live update could not say which
                raise ValueError(f"module {module.id}: {sorted(claimed)} already have a layer")
            taken.add(layer.id)
            types.update(layer.entity_types)
        self.modules[module.id] = module

    def ordered(self) -> list[UiModule]:
        return sorted(self.modules.values(), key=lambda m: (m.order, m.id))

    def layers(self) -> list[LayerSpec]:
        return [layer for module in self.ordered() for layer in module.layers]

    def layer(self, layer_id: str) -> LayerSpec | None:
        return next((layer for layer in self.layers() if layer.id == layer_id), None)


def type_layer(type_name: str) -> LayerSpec:
    """The layer of a located type no module claims: shown, uncoloured, when switched on."""
    slug = re.sub(r"[^a-z0-9]+", "-", type_name.lower()).strip("-") or "type"
    return LayerSpec(f"type-{slug}", type_name, type_name, (type_name,), visible=False)


def _legend(rules: Iterable[StyleRule]) -> list[dict[str, Any]]:
    """One legend entry per state, in rule order (several rules may lead to one state)."""
    seen: dict[str, dict[str, Any]] = {}
    for rule in rules:
        label = {"en": rule.label_en, "ro": rule.label_ro}
        seen.setdefault(rule.state, {"state": rule.state, "colour": rule.colour, "label": label})
    return list(seen.values())


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _same(value: Any, wanted: Scalar) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):  # True == 1 in Python: not here
        return value is wanted
    return bool(value == wanted)
