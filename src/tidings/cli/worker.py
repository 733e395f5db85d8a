"""`tidings worker`: run background jobs in their own process (as many as you like)."""

from __future__ import annotations

import asyncio
import importlib
import signal
from typing import Annotated

import typer

from tidings.cli.runtime import (
    app_context,
    console,
    database_errors,
    ensure_schema,
    fail,
    load_settings,
    shown_url,
)
from tidings.jobs.handlers import default_registry
from tidings.jobs.worker import Worker, WorkerOptions
from tidings.push.ack_listener import AckListener


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 4,
    poll: Annotated[
        float, typer.Option(min=0.01, help="Seconds between looks for due jobs.")
    ] = 1.0,
    heartbeat: Annotated[
        float, typer.Option(min=0.01, help="Seconds between heartbeats of running jobs.")
    ] = 5.0,
    heartbeat_timeout: Annotated[
        float,
        typer.Option(
            min=0.02,
            help="A running job whose heartbeat is older than this is requeued (its worker "
            "is gone). Use the same value for every worker.",
        ),
    ] = 30.0,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds running jobs get to finish on Ctrl-C/SIGTERM.")
    ] = 10.0,
    imports: Annotated[
        list[str] | None,
        typer.Option(
            "--import", help="Import this module first (it registers job handlers); repeatable."
        ),
    ] = None,
) -> None:
    """Run job workers until Ctrl-C or SIGTERM; running jobs finish or are given back."""
    for module in imports or []:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            fail(f"cannot import {module}: {exc}")
    try:
        options = WorkerOptions(
            concurrency=concurrency,
            poll_seconds=poll,
            heartbeat_seconds=heartbeat,
            heartbeat_timeout_seconds=heartbeat_timeout,
            shutdown_grace_seconds=grace,
        )
    except ValueError as exc:
        fail(str(exc))
    settings = load_settings()
    ensure_schema(settings)

    async def _main() -> None:
        async with app_context(settings) as ctx:
            w = Worker(ctx, default_registry, options)
            acks = AckListener(ctx)  # device acks over MQTT, next to the jobs
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, w.stop)
            kinds = ", ".join(default_registry.kinds()) or "none registered"
            console.print(
                f"Tidings worker [bold]{w.name}[/] on {shown_url(settings.database_url)} "
                f"(job kinds: {kinds}); Ctrl-C stops it."
            )
            listening = asyncio.create_task(acks.run(), name="device-acks")
            try:
                await w.run()
            finally:
                acks.stop()
                await asyncio.gather(listening, return_exceptions=True)

    with database_errors(settings):
        asyncio.run(_main())
