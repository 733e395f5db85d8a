"""Devices: where a user is reached, with auto-captured facts and a push address."""
