"""The demo: a workspace, an app and a few hundred realistic users, seeded through the real
actions (identify, device registration, track) so their profiles are real."""
