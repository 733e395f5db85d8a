"""Push and in-device delivery: payload shaping, providers and their credentials."""
