"""The first modules of the operations room: the city map with the sensor layers the platform
stores today, and the hub explorer. Other modules register theirs the same way
(``Registry.register``)."""

from __future__ import annotations

from cetate.web.ui.registry import LayerSpec, Registry, StyleRule, UiModule

GREY = "#8c8c8c"
UNKNOWN = ("unknown", GREY, "No reading", "Fără citire")

# Occupancy (0-1) bands: a car park above 90% is, for a driver, full (cruising for the last
# spaces starts there: Shoup, "The High Cost of Free Parking").
PARKING = LayerSpec(
    "parking",
    "Parking",
    "Parcări",
    ("OffStreetParking", "OnStreetParking"),
    (
        StyleRule("free", "#1a9850", "Free (< 70%)", "Liber (< 70%)", "occupancy", below=0.7),
        StyleRule("busy", "#e08214", "Busy (70-90%)", "Aglomerat (70-90%)", "occupancy", below=0.9),
        StyleRule("full", "#c51b1b", "Full (≥ 90%)", "Plin (≥ 90%)", "occupancy"),
        StyleRule(*UNKNOWN),
    ),
)

TRAFFIC = LayerSpec(
    "traffic",
    "Traffic",
    "Trafic",
    ("TrafficFlowObserved",),
    (
        StyleRule("congested", "#c51b1b", "Congested", "Congestionat", "congested", (True,)),
        StyleRule("flowing", "#1a9850", "Flowing", "Fluent", "congested", (False,)),
        StyleRule(*UNKNOWN),
    ),
)

# Smart Data Models Streetlight: status ok | defectiveLamp | columnIssue | brokenLantern.
LIGHTS = LayerSpec(
    "lights",
    "Street lights",
    "Iluminat public",
    ("Streetlight",),
    (
        StyleRule(
            "fault", "#d01c8b", "Fault", "Defect", "status",
            ("defectiveLamp", "columnIssue", "brokenLantern"),
        ),
        StyleRule("on", "#f1c40f", "On", "Aprins", "powerState", ("on",)),
        StyleRule("off", "#34495e", "Off", "Stins", "powerState", ("off",)),
        StyleRule(*UNKNOWN),
    ),
)  # fmt: skip

# The European Air Quality Index bands and the EEA's colours for them.
AIR = LayerSpec(
    "air",
    "Air quality",
    "Calitatea aerului",
    ("AirQualityObserved",),
    (
        StyleRule("good", "#50f0e6", "Good", "Bună", "airQualityLevel", ("good",)),
        StyleRule("fair", "#50ccaa", "Fair", "Acceptabilă", "airQualityLevel", ("fair",)),
        StyleRule("moderate", "#f0e641", "Moderate", "Moderată", "airQualityLevel", ("moderate",)),
        StyleRule("poor", "#ff5050", "Poor", "Slabă", "airQualityLevel", ("poor",)),
        StyleRule("very-poor", "#960032", "Very poor", "Foarte slabă", "airQualityLevel",
                  ("veryPoor",)),
        StyleRule("extremely-poor", "#7d2181", "Extremely poor", "Extrem de slabă",
                  "airQualityLevel", ("extremelyPoor",)),
        StyleRule(*UNKNOWN),
    ),
)  # fmt: skip

# Alerts (Smart Data Models Alert, cetate.alerts): a handled alert is grey whatever its
# severity, so the map shows what still needs someone.
ALERTS = LayerSpec(
    "alerts",
    "Alerts",
    "Alerte",
    ("Alert",),
    (
        StyleRule("resolved", GREY, "Resolved", "Rezolvată", "status", ("resolved",)),
        StyleRule("critical", "#7a0177", "Critical", "Critică", "severity", ("critical",)),
        StyleRule("high", "#c51b1b", "High", "Ridicată", "severity", ("high",)),
        StyleRule("medium", "#e08214", "Medium", "Medie", "severity", ("medium",)),
        StyleRule("low", "#f1c40f", "Low", "Scăzută", "severity", ("low",)),
        StyleRule("informational", "#4575b4", "Information", "Informare", "severity",
                  ("informational",)),
        StyleRule("medium", "#e08214", "Medium", "Medie"),  # no severity: as model.severity_rank
    ),
)  # fmt: skip

MAP = UiModule(
    "map", "Map", "Hartă", "/static/ui/map.js", (PARKING, TRAFFIC, LIGHTS, AIR, ALERTS), 10
)
ALERTS_PAGE = UiModule(
    "alerts", "Alerts", "Alerte", "/static/ui/alerts.js", (), 15, badge="/alerts/badge"
)
HUB_EXPLORER = UiModule("hub", "Hub explorer", "Explorator hub", "/static/ui/explorer.js", (), 20)


def default_registry() -> Registry:
    """A registry with the core modules, for one app (each app has its own)."""
    registry = Registry()
    registry.register(MAP)
    registry.register(ALERTS_PAGE)
    registry.register(HUB_EXPLORER)
    return registry
