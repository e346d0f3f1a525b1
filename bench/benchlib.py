"""Helpers shared by the benchmark scripts in bench/ (not a benchmark itself).

The scripts import it as `benchlib`: a script's own directory is on sys.path when it is run as
`.venv/bin/python bench/<name>.py`. What is here is what several scripts need alike: reading
CPU time from /proc (no psutil), waiting for an idle machine, free ports, processes in their
own session, throwaway PostgreSQL (or SQLite) databases and their migrations, percentiles,
git-archive snapshots of the code measured, and writing the JSON results.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from redis import Redis
from sqlalchemy.engine import URL, make_url

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# /proc.


def proc_pids() -> list[str]:
    """Every process id in /proc, as the string the other readers take."""
    return [entry for entry in os.listdir("/proc") if entry.isdigit()]


def proc_stat(pid: str) -> tuple[str, list[str]]:
    """(comm, fields 3 onwards) of /proc/PID/stat. The name is cut at the last ")" because a
    process may put spaces and parentheses in it; fields[0] is field 3 (state), so ppid is
    fields[1], pgrp fields[2], utime..cstime fields[11:15]. Raises OSError if it has exited."""
    with open(f"/proc/{pid}/stat") as fh:
        raw = fh.read()
    return raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()


def proc_title(pid: str) -> str:
    """The process title: PostgreSQL writes "postgres: 15/main: USER DATABASE HOST STATE" there,
    which is how a backend of our database is told from one serving another database."""
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs together since boot. Idle, iowait and the time the
    hypervisor stole are not busy: none of them is CPU a process could have used."""
    with open("/proc/stat") as fh:
        # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
        values = [int(v) for v in fh.readline().split()[1:9]]
    idle = values[3] + values[4] + values[7]
    return sum(values) - idle, sum(values)


def postgres_ours(title: str, dbname: str) -> bool:
    """A backend serving our database, the postmaster or a shared helper (WAL writer,
    checkpointer...); not a backend serving another database of the same server, so that
    another project's queries on a shared server are not charged to us."""
    if not title.startswith("postgres:"):
        return True  # the postmaster: /usr/lib/postgresql/15/bin/postgres -D ...
    words = title[len("postgres:") :].split()
    if words and words[0].endswith(":"):  # cluster name, e.g. "15/main:"
        words = words[1:]
    # Client backends read "USER DATABASE HOST(PORT)|[local] STATE".
    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
        return words[1] == dbname
    return True


def wait_idle(seconds: float, max_wait: float) -> float:
    """Waits until the machine used < 0.25 cores over `seconds` (at most max_wait s), so that
    a measurement does not start in the middle of someone else's burst; returns the load of the
    last window, in cores."""
    deadline = time.time() + max_wait
    while True:
        b0, t0 = machine_ticks()[0], time.time()
        time.sleep(seconds)
        cores = (machine_ticks()[0] - b0) / CLK_TCK / (time.time() - t0)
        if cores < 0.25 or time.time() > deadline:
            return cores
        print(f"  machine busy ({cores:.2f} cores); waiting for it to be idle", flush=True)


# ---------------------------------------------------------------------------------------------
# Numbers.


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list: always a value that was measured, never an
    interpolation between two."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil(n * pct / 100)
    return sorted_values[int(rank) - 1]


def write_json(path: Path, doc: Any, default: Any = None) -> None:
    """Writes through a temporary file and a rename, so that an interrupted run never leaves a
    half-written result behind for the docs to quote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=default) + "\n")
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# Processes.


def exit_status(clean: bool, target_met: bool, fail_under_target: bool) -> int:
    """1 when the run itself went wrong (errors, rows missing), 3 with --fail-under-target when
    a clean run missed the target, else 0: a broken run and a slow one must not look alike."""
    if not clean:
        return 1
    if fail_under_target and not target_met:
        return 3
    return 0


def free_port() -> int:
    """A port nothing listens on now; the servers are started on it right after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_on_signals() -> None:
    """Turns SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt, so that the scripts' `finally`
    stops servers and drops databases on Ctrl-C, kill or a closed terminal, even when started
    with SIGINT ignored (e.g. in the background)."""

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)


class GroupProcess:
    """A command in a session of its own, logging to a file: Ctrl-C reaches only us, and
    stop() ends the whole process group (a gunicorn master and its workers)."""

    def __init__(
        self, name: str, cmd: list[str], env: dict[str, str], log_path: Path, stop_timeout: float
    ):
        self.name = name
        self.cmd = cmd
        self.log_path = log_path
        self.stop_timeout = stop_timeout
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail(self, n: int = 30) -> str:
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=self.stop_timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.log.close()


class Server(GroupProcess):
    """gunicorn serving `module` with the benchmark's worker settings (args.workers,
    args.worker_class, args.threads), the same for the app and the ceiling it is compared with."""

    def __init__(
        self,
        name: str,
        module: str,
        chdir: Path,
        port: int,
        env: dict[str, str],
        args: Any,
        logdir: Path,
    ):
        self.port = port
        cmd = [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            args.worker_class,
            "--log-level",
            "warning",
            "--chdir",
            str(chdir),
        ]
        if args.worker_class == "gthread":
            cmd += ["--threads", str(args.threads)]
        cmd.append(module)
        super().__init__(name, cmd, env, logdir / f"gunicorn-{name}.log", stop_timeout=10)

    def wait_ready(self, path: str, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready after {timeout}s:\n{self.tail()}")


class Child:
    """A process in its own session (Ctrl-C reaches only us), logging to a file. Unlike
    GroupProcess it is stopped with a SIGTERM to itself (an RQ worker then finishes its job)
    and reaped with wait4, which gives its lifetime CPU including its reaped children."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logdir: Path, cwd: Path):
        self.name = name
        self.cmd = cmd
        self.log_path = logdir / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.rusage_cpu: float | None = None  # lifetime CPU incl. reaped children, from wait4

    def tail(self, n: int = 20) -> str:
        if not self.log.closed:
            self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def stop(self, timeout: float = 15) -> None:
        if self.proc.returncode is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    pid, status, ru = os.wait4(self.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    self.proc.returncode = os.waitstatus_to_exitcode(status)
                    self.rusage_cpu = ru.ru_utime + ru.ru_stime
                    break
                time.sleep(0.05)
            else:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.log.close()


def print_log_tails(procs: Iterable[Any], lines: int, what: str = "log") -> None:
    """Shows the end of each process's log, so that warnings the servers or workers logged
    during the run are seen next to the figures they may explain."""
    for p in procs:
        log_tail = p.tail(lines)
        if log_tail.strip():
            print(f"\n-- {p.name} {what} (last lines):\n{log_tail}")


# ---------------------------------------------------------------------------------------------
# The code measured.


def git(*args: str) -> str:
    """git in this checkout, wherever the script was started from."""
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def extract_commit(sha: str, dest: Path) -> None:
    """A `git archive` snapshot of a commit in dest, so that the code measured does not change
    while others edit the working tree during a run."""
    dest.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", sha],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def prepare_code(commit: str | None, tmpdir: Path) -> tuple[Path, dict[str, Any]]:
    """The directory whose code is measured, and what it is (commit, local changes), recorded
    in the results so that a figure can be traced to the code it measured."""
    if commit is None:
        try:
            head = git("rev-parse", "--short", "HEAD")
            dirty = git("status", "--porcelain", "--untracked-files=no").splitlines()
        except (OSError, subprocess.CalledProcessError):
            return ROOT, {"describe": "working tree (not a git checkout)"}
        describe = f"working tree at {head}" + (f", {len(dirty)} files changed" if dirty else "")
        return ROOT, {"describe": describe, "commit": head, "changed": dirty}
    sha = git("rev-parse", "--short", f"{commit}^{{commit}}")
    code = tmpdir / "code"
    extract_commit(sha, code)
    return code, {"describe": f"commit {sha} (git archive)", "commit": sha, "changed": []}


# ---------------------------------------------------------------------------------------------
# Databases.


def postgres_url(parser: argparse.ArgumentParser, database_url: str) -> URL:
    """The --database-url, refused unless it names a dedicated PostgreSQL database: the
    benchmarks drop it."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        parser.error("--database-url must be a postgresql:// URL with a database name")
    if url.database in ("postgres", "template0", "template1"):
        parser.error("--database-url must name a dedicated database (it is dropped)")
    return url


def add_result_options(
    parser: argparse.ArgumentParser, output: Path | None, target: str = "the target is"
) -> None:
    """--output, --keep-db and --fail-under-target: every database benchmark offers them, and
    they should read the same in each script's --help."""
    parser.add_argument("--output", type=Path, default=output)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--fail-under-target",
        action="store_true",
        help=f"exit 3 when the run is clean but {target} missed",
    )


def redis_client(parser: argparse.ArgumentParser, redis_url: str) -> Redis:
    """A client for --redis-url, refused on database 0, which the benchmarks would empty."""
    redis = Redis.from_url(redis_url)
    if int(redis.connection_pool.connection_kwargs.get("db", 0)) == 0:
        parser.error("--redis-url must name a database other than 0 (it is emptied)")
    return redis


def conninfo(url: URL, dbname: str) -> str:
    """A libpq connection string for another database of the same server (e.g. "postgres", to
    create or drop ours)."""
    return psycopg.conninfo.make_conninfo(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or None,
        dbname=dbname,
    )


def sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise SystemExit("--database-url: an SQLite file path is needed")
    return Path(url.database)


def _remove_sqlite(url: URL) -> None:
    """The SQLite file and the files SQLite keeps beside it, so no stale journal is replayed."""
    path = sqlite_path(url)
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        p.unlink(missing_ok=True)


def recreate_database(url: URL) -> None:
    """An empty database, whatever an earlier (perhaps interrupted) run left."""
    if url.get_backend_name() == "sqlite":
        _remove_sqlite(url)
        return
    with psycopg.connect(conninfo(url, "postgres"), autocommit=True) as conn:
        name = sql.Identifier(url.database)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(url: URL) -> None:
    if url.get_backend_name() == "sqlite":
        _remove_sqlite(url)
        return
    with psycopg.connect(conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(url.database))
        )


def drop_database_or_warn(url: URL) -> None:
    """For the scripts' `finally`: a failed drop is reported but must not hide the error that
    ended the run."""
    try:
        drop_database(url)
    except psycopg.Error as exc:
        print(f"could not drop the bench database: {exc}", file=sys.stderr)


def server_version(url: URL) -> str:
    with psycopg.connect(conninfo(url, url.database)) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def app_url(url: URL) -> str:
    """The URL as the app's DATABASE_URL wants it: the app picks its own PostgreSQL driver."""
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def app_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment the app runs with in every benchmark: development settings, warnings
    only in the logs (logging costs CPU that would be charged to the app), its own instance
    directory; `extra` adds the benchmark's own settings."""
    return {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": database_url,
        "FULFILMENT_INSTANCE_PATH": str(instance),
        "LOG_LEVEL": "warning",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def run_migrations(env: dict[str, str], cwd: Path) -> None:
    """`flask db upgrade` of the code in cwd (the working tree or a commit's snapshot)."""
    mig = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if mig.returncode != 0:
        raise RuntimeError(f"migration failed:\n{mig.stdout}\n{mig.stderr}")


def machine_info(url: URL) -> dict[str, Any]:
    """What the figures were measured on, for the results file."""
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": server_version(url),
        "platform": platform.platform(),
    }
