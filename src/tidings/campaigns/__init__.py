"""In-app campaigns: variants, audience, trigger, delivery controls, lifecycle."""
