"""Alerts: what is wrong in the city, who has seen it and who has dealt with it."""
