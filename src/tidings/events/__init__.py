"""Events: batch ingestion with per-event validation, dedupe and clock-skew correction."""
