"""The physical city: OSM street networks, routing, isochrones, places and population."""
