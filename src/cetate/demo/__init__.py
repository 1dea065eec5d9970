"""The demo city shipped with Cetate (replaced by a real OSM city by the city module)."""
