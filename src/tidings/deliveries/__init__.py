"""Deliveries: one row per (campaign, user, channel, device, occurrence) and what happened."""
