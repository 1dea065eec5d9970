"""The hub: the city's memory (NGSI-LD entities, history, subscriptions)."""
