"""What every command shares: settings, the schema gate, an AppContext, error reporting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tidings import migrate
from tidings.clock import SystemClock
from tidings.config import Settings
from tidings.context import AppContext
from tidings.crypto import SecretBox
from tidings.db import Database
from tidings.errors import TidingsError

T = TypeVar("T")

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print `message` as an error and leave with exit `code`."""
    # Messages quote user input and lists like ['read', 'write']: never read them as markup.
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def print_table(table: Table) -> None:
    """Print at the table's natural width: a key cut short by a narrow terminal is useless."""
    natural = Measurement.get(console, console.options.update_width(1000), table).maximum
    if natural <= console.width:
        console.print(table)
    else:  # Console.print never renders wider than the console, so use a wider one
        Console(width=natural, highlight=False).print(table)


def load_settings(**overrides: object) -> Settings:
    """Settings from `TIDINGS_*` (and .env), with command-line flags on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(f"bad configuration for {where or 'settings'}: {first['msg']}")


def shown_url(url: str) -> str:
    """The database URL without its password, fit for a terminal or a log."""
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """Turn an unreachable or refusing database into one readable line."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"database {shown_url(settings.database_url)}: {reason}")


def schema_behind(settings: Settings) -> tuple[str | None, str] | None:
    """(current, head) revisions when the schema is not at head, else None."""
    head = migrate.head_revision()
    with database_errors(settings):
        current = asyncio.run(migrate.current_revision(settings.database_url))
    return None if current == head else (current, head)


def require_current_schema(settings: Settings) -> None:
    """Leave with exit code 2 and the fix when the schema is not at this version's head."""
    behind = schema_behind(settings)
    if behind is not None:
        current, head = behind
        fail(
            f"the database schema is at revision {current or 'none (empty database)'}, "
            f"this version of Tidings needs {head}.\n"
            "Run `tidings db upgrade` with the same TIDINGS_DATABASE_URL, then try again.",
            code=2,
        )


def upgrades_itself(settings: Settings) -> bool:
    """An embedded SQLite file is upgraded on start; anything else is upgraded on purpose."""
    return settings.is_sqlite and settings.auto_migrate


def ensure_schema(settings: Settings) -> None:
    """Upgrade an embedded SQLite file (when allowed); otherwise refuse a stale schema."""
    if upgrades_itself(settings):
        with database_errors(settings):
            migrate.upgrade(settings.database_url)
        return
    require_current_schema(settings)


def open_db(settings: Settings) -> Database:
    """The database exactly as the server opens it (see app.py's lifespan)."""
    return Database.from_settings(settings)


@asynccontextmanager
async def app_context(settings: Settings) -> AsyncIterator[AppContext]:
    """The same AppContext the server builds, for a command's lifetime."""
    db = open_db(settings)
    try:
        yield AppContext(
            settings=settings,
            db=db,
            clock=SystemClock(),
            box=SecretBox(settings.effective_secret_key),
        )
    finally:
        await db.dispose()


def run(settings: Settings, job: Callable[[AppContext], Awaitable[T]]) -> T:
    """Make sure the schema is current, then run `job(ctx)`; errors become exit code 1."""
    ensure_schema(settings)

    async def _main() -> T:
        async with app_context(settings) as ctx:
            return await job(ctx)

    with database_errors(settings):
        try:
            return asyncio.run(_main())
        except TidingsError as exc:
            fail(f"{exc.message}" + (f" (field: {exc.field})" if exc.field else ""))
