"""The one way Cetate opens an MQTT connection (paho-mqtt 2): from an ``mqtt://`` or
``mqtts://`` URL with optional credentials; used by notifications and by ingest."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from cetate.errors import BadRequestData


@dataclass(frozen=True)
class Broker:
    host: str
    port: int


def paho_client(
    url: str,
    client_id: str,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
    manual_ack: bool = False,
) -> tuple[mqtt.Client, Broker]:
    """A configured (not yet connected) client and where to connect it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("mqtt", "mqtts"):
        raise BadRequestData(f"{url!r} is not an mqtt:// or mqtts:// URL")
    secure = scheme == "mqtts"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        manual_ack=manual_ack,
    )
    if parts.username:
        password = unquote(parts.password) if parts.password is not None else None
        client.username_pw_set(unquote(parts.username), password)
    if secure:
        client.tls_set()
    return client, Broker(parts.hostname or "localhost", parts.port or (8883 if secure else 1883))
