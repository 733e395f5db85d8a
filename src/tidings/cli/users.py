"""`tidings users import FILE`: bulk create/update users from CSV or JSON lines."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Annotated, TextIO

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tidings.cli.runtime import (
    app_context,
    console,
    database_errors,
    ensure_schema,
    fail,
    load_settings,
)
from tidings.context import AppContext
from tidings.tenancy import queries as tenancy_queries
from tidings.users import bulk, importer, queries
from tidings.users.importer import Format, ImportRow, RowError

app = typer.Typer(help="Users of an app: bulk import.")

MAX_SHOWN = 1000  # bad rows printed; --report keeps every one


def count_lines(path: Path) -> int:
    """Lines in a file, read in binary chunks (cheap next to parsing them)."""
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (0 if last == b"\n" else 1)


class Tally:
    """Counts outcomes, prints bad rows (up to MAX_SHOWN), and keeps the optional report."""

    def __init__(self, out: Console, report: TextIO | None) -> None:
        self.out = out
        self.report = report
        self.counts: Counter[str] = Counter()

    def bad(self, line: int, field: str | None, message: str) -> None:
        self.counts["failed"] += 1
        if self.counts["failed"] <= MAX_SHOWN:
            where = f"{field}: " if field and not message.startswith(f"{field}:") else ""
            self.out.print(f"[red]line {line}[/]: {where}{message}", markup=True, soft_wrap=True)
        if self.report is not None:
            record = {"line": line, "field": field, "message": message}
            self.report.write(orjson.dumps(record).decode() + "\n")

    def outcomes(self, results: list[bulk.RowOutcome]) -> None:
        for r in results:
            if r.status == "failed":
                self.bad(r.line, r.field, r.message or "failed")
            else:
                self.counts[r.status] += 1


async def _import(
    ctx: AppContext,
    path: Path,
    fmt: Format,
    app_id: int,
    batch_size: int,
    tally: Tally,
    progress: Progress,
) -> None:
    async with ctx.db.read() as s:
        if await tenancy_queries.get_app(s, app_id) is None:
            fail(f"app {app_id} not found (field: app)")
        declared = await queries.declared_types(s, app_id)
    task = progress.add_task(f"importing {path.name}", total=count_lines(path))
    batch: list[ImportRow] = []

    async def flush() -> None:
        if batch:
            tally.outcomes(await bulk.import_rows(ctx.db, app_id, batch, now=ctx.clock.now()))
            progress.update(task, completed=batch[-1].line)
            batch.clear()

    with path.open(encoding="utf-8-sig", newline="") as f:
        try:
            for row in importer.parse(f, fmt, declared):
                if isinstance(row, RowError):
                    tally.bad(row.line, row.field, row.message)
                    continue
                batch.append(row)
                if len(batch) >= batch_size:
                    await flush()
        except UnicodeDecodeError as exc:
            await flush()
            fail(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); stopped there")
    await flush()
    progress.update(task, completed=progress.tasks[0].total)


@app.command("import")
def import_users(
    file: Annotated[Path, typer.Argument(help="A .csv or .jsonl file.", show_default=False)],
    app_id: Annotated[int, typer.Option("--app", help="Id of the app the users belong to.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or jsonl; by default from the file's extension."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="Rows per transaction.")] = 500,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write every bad row as JSON lines {line, field, message}."),
    ] = None,
) -> None:
    """Create or update users; bad rows are reported by line and skipped, the rest imported.

    CSV: a header row naming `external_id` and/or `anonymous_id`, optional `locale`,
    `timezone` and `consent.<channel>` columns; every other column is an attribute
    (numbers, true/false, ISO datetimes and `a|b|c` lists are typed; empty cells are
    skipped). JSON lines: one identify body per line. Exits with 1 when any row failed.
    """
    chosen = importer.format_named(fmt) if fmt else importer.infer_format(file)
    if chosen is None:
        fail(f"cannot tell the format of {file.name}: pass --format csv or --format jsonl")
    if not file.is_file():
        fail(f"{file} does not exist or is not a file")
    settings = load_settings()
    ensure_schema(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    out = open(report, "w", encoding="utf-8") if report else None  # noqa: SIM115
    try:
        with Progress(*columns, console=console) as progress:
            tally = Tally(progress.console, out)

            async def _main() -> None:
                async with app_context(settings) as ctx:
                    await _import(ctx, file, chosen, app_id, batch_size, tally, progress)

            with database_errors(settings):
                asyncio.run(_main())
    finally:
        if out is not None:
            out.close()
    summarize(tally.counts)


def summarize(counts: Counter[str]) -> None:
    """Print the totals; exit 1 when any row failed."""
    created, updated, failed = counts["created"], counts["updated"], counts["failed"]
    console.print(
        f"imported {created + updated} rows: {created} created, {updated} updated; {failed} failed"
    )
    if failed:
        if failed > MAX_SHOWN:
            console.print(f"(the first {MAX_SHOWN} bad rows are shown above; --report keeps all)")
        raise typer.Exit(1)
