"""Push campaigns: pure planning, fan-out and send jobs, transactional sends, metrics."""
