"""Operations: health, readiness, metrics, structured logs, request guards."""
