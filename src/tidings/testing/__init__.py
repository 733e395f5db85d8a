"""Public, reusable test helpers: a live Tidings server on loopback, and (later) provider fakes."""
