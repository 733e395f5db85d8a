"""Durable jobs: rows written in the same transaction as their cause, run by workers.

`queue.enqueue` inside the caller's write session; `Registry` maps a kind to its handler;
`Worker` claims, heartbeats, runs and retries (policy in `retry`, a pure function).
"""
