"""Self-contained widgets that render mesh's facts; no widget fetches anything."""
