"""ITS: signals, parking, public transport, enforcement, traffic information, access rules."""
