"""`tidings serve`: run the API server (uvicorn) with the configured settings."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from tidings.app import create_app
from tidings.cli.runtime import (
    console,
    load_settings,
    require_current_schema,
    shown_url,
    upgrades_itself,
)
from tidings.config import Settings


def serve_app(settings: Settings) -> None:
    """Serve until interrupted; the app logs its own requests, so uvicorn's access log is off."""
    console.print(
        f"Tidings on [bold]http://{settings.host}:{settings.port}[/] "
        f"(database {shown_url(settings.database_url)}); Ctrl-C stops it."
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,  # tidings.ops.logs configures logging for the whole process
        log_level=settings.log_level,
        lifespan="on",
        server_header=False,
    )


def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to listen on (default: TIDINGS_HOST, else 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: TIDINGS_PORT, else 8000).")
    ] = None,
) -> None:
    """Run the Tidings server. SQLite is upgraded on start; PostgreSQL must be upgraded first."""
    settings = load_settings(host=host, port=port)
    if not upgrades_itself(settings):
        require_current_schema(settings)
    serve_app(settings)
