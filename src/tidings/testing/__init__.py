"""Public, reusable test helpers: a live Tidings server on loopback (`live`) and
protocol-faithful push provider fakes (`fcm_fake`, `apns_fake`, `webpush_fake`;
see docs/testing.md)."""
