"""The operations room: the dashboard served at ``/`` (see docs/dashboard.md)."""
