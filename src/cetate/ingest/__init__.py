"""From the outside world into the hub: MQTT devices, GTFS and GTFS-Realtime, CSV replay."""
