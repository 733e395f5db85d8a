"""Reliability matrix S5 with real `tidings worker` processes: a worker killed with
SIGKILL mid-job has the job retried after the heartbeat timeout; a live worker's job,
heartbeating, is never stolen by another worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import Backend, Tenant
from tests.integration.cli_process import cli_env

from tidings.context import AppContext
from tidings.jobs import queue
from tidings.testing.live import LiveServer

HERE = Path(__file__).parent
WAIT_SECONDS = 120.0  # generous: 2 shared cores; normally a few seconds


class WorkerProcess:
    """A `tidings worker` subprocess running the test handler for one job kind."""

    def __init__(self, backend: Backend, tmp: Path, kind: str, name: str) -> None:
        env = cli_env(
            tmp,
            backend.async_url,
            TIDINGS_TEST_JOB_KIND=kind,
            PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        )
        self.out_path = tmp / f"{name}.out"
        self._out = self.out_path.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tidings.cli",
                "worker",
                "--import",
                "job_handlers",
                "--poll",
                "0.05",
                "--heartbeat",
                "0.1",
                "--heartbeat-timeout",
                "1",
                "--grace",
                "5",
            ],
            env=env,
            cwd=tmp,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return self.out_path.read_text()

    def wait_started(self) -> None:
        wait_for(lambda: "Tidings worker" in self.output, self, "the worker to start")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._out.close()
        return self.proc.returncode


def wait_for(check: Callable[[], bool], worker: WorkerProcess | None, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        if worker is not None and worker.proc.poll() is not None:
            raise AssertionError(f"worker exited with {worker.proc.returncode}:\n{worker.output}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def workers(backend: Backend, tmp_path: Path) -> Iterator[Callable[[str, str], WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(kind: str, name: str) -> WorkerProcess:
        w = WorkerProcess(backend, tmp_path, kind, name)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def enqueue_blocking(
    live: LiveServer, tenant: Tenant, kind: str, tmp: Path, *, block_attempts: int
) -> tuple[int, Path, Path]:
    log, gate = tmp / "runs.log", tmp / "gate"
    payload = {"log": str(log), "gate": str(gate), "block_attempts": block_attempts}

    async def _add(ctx: AppContext) -> int:
        async with ctx.db.write() as s:
            job = await queue.enqueue(s, kind, payload, now=ctx.clock.now(), app_id=tenant.app_id)
        return job.job_id

    return live.call(_add), log, gate


def job_row(sql: sa.Engine, job_id: int) -> dict[str, Any]:
    with sql.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id}).one()
    return dict(row._mapping)


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_killed_workers_job_is_retried_after_the_heartbeat_timeout(
    live: LiveServer,
    sql: sa.Engine,
    tenant: Tenant,
    tmp_path: Path,
    workers: Callable[[str, str], WorkerProcess],
) -> None:
    kind = f"crash.{uuid.uuid4().hex[:10]}"
    job_id, log, _ = enqueue_blocking(live, tenant, kind, tmp_path, block_attempts=1)
    first = workers(kind, "first")
    wait_for(lambda: len(lines(log)) == 1, first, "the first attempt to start")
    row = job_row(sql, job_id)
    assert row["status"] == "running"
    assert row["attempts"] == 1
    assert row["locked_by"].split(":")[1] == str(first.proc.pid)

    first.kill9()  # mid-job: no outcome recorded, no more heartbeats
    assert job_row(sql, job_id)["status"] == "running"

    second = workers(kind, "second")
    wait_for(lambda: job_row(sql, job_id)["status"] == "done", second, "the job to finish")
    row = job_row(sql, job_id)
    assert row["attempts"] == 2
    assert row["last_error"] == "worker lost: no heartbeat for 1s"
    assert row["locked_by"] is None
    assert lines(log) == [
        f"start {first.proc.pid} 1",
        f"start {second.proc.pid} 2",
        f"done {second.proc.pid} 2",
    ]
    assert second.stop() == 0


def test_a_live_workers_job_is_never_stolen(
    live: LiveServer,
    sql: sa.Engine,
    tenant: Tenant,
    tmp_path: Path,
    workers: Callable[[str, str], WorkerProcess],
) -> None:
    kind = f"crash.{uuid.uuid4().hex[:10]}"
    job_id, log, gate = enqueue_blocking(live, tenant, kind, tmp_path, block_attempts=1)
    owner = workers(kind, "owner")
    wait_for(lambda: len(lines(log)) == 1, owner, "the job to start")
    rival = workers(kind, "rival")
    rival.wait_started()
    # Several heartbeat timeouts pass while the rival polls and reclaims every 50 ms.
    time.sleep(3.5)
    row = job_row(sql, job_id)
    assert row["status"] == "running"
    assert row["attempts"] == 1
    assert row["locked_by"].split(":")[1] == str(owner.proc.pid)

    gate.touch()
    wait_for(lambda: job_row(sql, job_id)["status"] == "done", owner, "the job to finish")
    assert job_row(sql, job_id)["attempts"] == 1
    assert lines(log) == [f"start {owner.proc.pid} 1", f"done {owner.proc.pid} 1"]
    assert owner.stop() == 0
    assert rival.stop() == 0


def test_worker_processes_claiming_at_once_run_each_job_exactly_once(
    live: LiveServer,
    sql: sa.Engine,
    tenant: Tenant,
    tmp_path: Path,
    workers: Callable[[str, str], WorkerProcess],
) -> None:
    kind = f"crowd.{uuid.uuid4().hex[:10]}"
    gate = tmp_path / "gate"
    procs = [workers(kind, f"w{n}") for n in range(3)]
    for w in procs:
        w.wait_started()

    async def _add(ctx: AppContext) -> list[int]:
        async with ctx.db.write() as s:
            return [
                (
                    await queue.enqueue(
                        s,
                        kind,
                        {"log": str(tmp_path / f"{n}.log"), "gate": str(gate), "block_attempts": 0},
                        now=ctx.clock.now(),
                    )
                ).job_id
                for n in range(90)
            ]

    ids = live.call(_add)

    def finished() -> int:
        with sql.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM jobs WHERE kind = :k AND status = 'done'"),
                    {"k": kind},
                ).scalar_one()
            )

    wait_for(lambda: finished() == len(ids), None, "every job to finish")
    pids = {str(w.proc.pid) for w in procs}
    ran_by: set[str] = set()
    for n in range(len(ids)):
        runs = lines(tmp_path / f"{n}.log")
        assert len(runs) == 2, runs  # one start, one done: run exactly once
        assert runs[0].startswith("start ")
        ran_by.add(runs[0].split()[1])
    assert ran_by <= pids
    with sql.connect() as conn:
        attempts = conn.execute(
            sa.text("SELECT DISTINCT attempts FROM jobs WHERE kind = :k"), {"k": kind}
        ).scalars()
        assert list(attempts) == [1]
    for w in procs:
        assert w.stop() == 0
