"""Profiles: behaviour aggregates maintained on ingestion; targeting reads these."""
