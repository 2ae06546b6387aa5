"""The record of local runs: an SQLite file in the user's state directory.

Cluster runs keep their record on the cluster; a local run has nowhere else
to live, so ``mlctl run --local`` writes it here and ``mlctl runs`` reads it
back. The file is ``runs.db`` in ``platformdirs.user_state_dir("mlctl")``,
or in ``$MLCTL_STATE_DIR`` when that is set.

API (every function opens the file, does one short transaction, closes it)::

    start(record, pid)                  a new run, state as given (running)
    append_log(run_id, line, stream)    one output line; append_logs for many
    finish(run_id, state, status_text, result)
    get(run_id) -> RunRecord            raises UnknownRun; find() -> None instead
    list(project=, function=, state=, limit=) -> list[RunRecord], newest first
    logs(run_id, follow=False) -> Iterator[str]
    delete(run_id)                      record and logs; refuses a live run

``pid`` is the process that will call ``finish``: the mlctl process that
supervises the run. A record left ``running`` whose process is gone (or
whose pid now belongs to another process, told apart by its start time)
reads as ``interrupted``: mlctl died mid-run, and the record says so rather
than pretending the run is still going. The first reader that notices
writes the new state back.

Safe for several mlctl processes at once: WAL mode (readers never wait for
the writer), a busy timeout, and writes that take the write lock up front
(``BEGIN IMMEDIATE``) so two writers queue instead of failing. This module
never starts or stops processes and never prints.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl.errors import InvalidInput, MlctlError
from mlctl.runs import record as record_

STATE_DIR_ENV = "MLCTL_STATE_DIR"
FILENAME = "runs.db"
BUSY_TIMEOUT_MS = 10_000
_PAGE = 1000
_SCHEMA_VERSION = 2  # 2: the runs' attempts
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    function    TEXT NOT NULL,
    project     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    state       TEXT NOT NULL,
    status_text TEXT NOT NULL DEFAULT '',
    started     TEXT NOT NULL,
    finished    TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL DEFAULT '{}',
    params      TEXT NOT NULL DEFAULT '{}',
    thresholds  TEXT NOT NULL DEFAULT '{}',
    pid         INTEGER NOT NULL,
    pid_start   TEXT NOT NULL DEFAULT '',
    host        TEXT NOT NULL DEFAULT '',
    attempts    TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
CREATE TABLE IF NOT EXISTS logs (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT NOT NULL,
    stream  TEXT NOT NULL,
    line    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_run ON logs (run_id, seq);
"""
_COLUMNS = (
    "run_id, function, project, kind, namespace, state, status_text, started, finished, "
    "result, params, thresholds, pid, pid_start, host, attempts"
)
# what each format adds to the one before it
_MIGRATIONS = {2: "ALTER TABLE runs ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]'"}


class UnknownRun(InvalidInput):
    """No local run has this id."""


class StoreError(MlctlError):
    """The store's file cannot be opened, read or written."""


class StateDirError(StoreError, InvalidInput):
    """The state directory cannot hold the store (not a directory, not writable): the user's setting to fix."""

    exit_code = InvalidInput.exit_code


def _unusable(file: Path, exc: BaseException) -> StateDirError:
    where = f"${STATE_DIR_ENV}" if os.environ.get(STATE_DIR_ENV) else "the default state directory"
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if file.parent.exists() and not file.parent.is_dir():
        reason = "it is not a directory"
    return StateDirError(
        f"cannot keep the local run store in {file.parent} ({where}): {reason}; "
        f"set {STATE_DIR_ENV} to a writable directory"
    )


def state_dir() -> Path:
    """Where the store lives: ``$MLCTL_STATE_DIR``, else the platform's user state dir."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_state_dir("mlctl"))


def path() -> Path:
    return state_dir() / FILENAME


def now() -> str:
    """The current time as ISO 8601 UTC, as Kubernetes writes timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def _connect(write: bool = False) -> Iterator[sqlite3.Connection]:
    """One short transaction on the store; the file and tables are made on first use."""
    file = path()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are opened explicitly below, so a
        # writer holds the lock from its first statement (no upgrade deadlock)
        conn = sqlite3.connect(file, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise _unusable(file, exc) from None
    try:
        try:
            _begin(conn, file, write)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise
            raise _unusable(file, exc) from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreError(f"local run store {file}: {exc}") from None
    finally:
        conn.close()


def _begin(conn: sqlite3.Connection, file: Path, write: bool) -> None:
    """Settings, the schema on first use, and an open transaction.

    Retried as a whole: a few of SQLite's lock conflicts (switching a new
    file to WAL while another process opens it) fail at once instead of
    waiting for the busy timeout. Nothing is written before the
    transaction is open, so a retry repeats no work.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # WAL makes every commit durable against a crash of mlctl; an
            # fsync per commit (FULL) would only add safety against power loss
            conn.execute("PRAGMA synchronous = NORMAL")
            if conn.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                _create(conn, file)
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            return
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _create(conn: sqlite3.Connection, file: Path) -> None:
    # WAL is a property of the file: set once, every later connection uses it
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
    if version > _SCHEMA_VERSION:
        conn.execute("ROLLBACK")
        raise StoreError(
            f"the local run store {file} was written by a newer mlctl (format {version}); "
            f"upgrade mlctl or set {STATE_DIR_ENV} to another directory"
        )
    if version == 0:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
    else:  # a store written by an older mlctl: its runs stay, the new columns get their defaults
        for step in range(version + 1, _SCHEMA_VERSION + 1):
            conn.execute(_MIGRATIONS[step])
    conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
    conn.execute("COMMIT")


# ------------------------------------------------------------ process identity


def process_token(pid: int) -> str:
    """What tells this process apart from a later one given the same pid.

    On Linux: the boot id and the process's start time (clock ticks since
    boot). Elsewhere there is no cheap equivalent: "" (only the pid counts).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
    # the command name (field 2) may hold spaces and parentheses: split after it
    fields = stat.rpartition(")")[2].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else ""


def _alive(pid: int, token: str, host: str) -> bool:
    if host and host != socket.gethostname():
        return True  # a run on another machine sharing this directory: cannot tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if _zombie(pid):
        return False
    return not token or process_token(pid) in ("", token)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()
    return bool(fields) and fields[0] in ("Z", "X")


def _interrupted_text(pid: int) -> str:
    return f"mlctl stopped before the run finished (process {pid} is gone); the run's outcome is unknown"


# ------------------------------------------------------------------ writing


def start(record: record_.RunRecord, pid: int) -> None:
    """Record a new local run, supervised by process ``pid``."""
    started = record.started or now()
    row = (
        record.run_id,
        record.function,
        record.project,
        record.kind,
        record.namespace,
        record.state,
        record.status_text,
        started,
        record.finished,
        _dump(record.result),
        _dump(record.params),
        _dump(record.thresholds),
        pid,
        process_token(pid),
        socket.gethostname(),
        _dump_attempts(record.attempts),
    )
    with _connect(write=True) as conn:
        try:
            conn.execute(f"INSERT INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row)
        except sqlite3.IntegrityError:
            raise InvalidInput(f"a local run with id {record.run_id} already exists") from None


def append_log(run_id: str, line: str, stream: str = "stdout") -> None:
    append_logs(run_id, [(stream, line)])


def append_logs(run_id: str, lines: Iterable[tuple[str, str]]) -> None:
    """Several (stream, line) pairs in one transaction (cheaper for chatty runs)."""
    rows = [(run_id, stream, line) for stream, line in lines]
    if not rows:
        return
    with _connect(write=True) as conn:
        conn.executemany("INSERT INTO logs (run_id, stream, line) VALUES (?, ?, ?)", rows)


def finish(
    run_id: str,
    state: str,
    status_text: str = "",
    result: Mapping[str, Any] | None = None,
    attempts: Sequence[record_.Attempt] | None = None,
) -> None:
    """Close a run with its final state (one of ``record.TERMINAL``); ``attempts`` replace those recorded."""
    if state not in record_.TERMINAL:
        expected = ", ".join(record_.TERMINAL)
        raise ValueError(f"not a final state: {state!r} (expected one of {expected})")
    with _connect(write=True) as conn:
        cursor = conn.execute(
            "UPDATE runs SET state = ?, status_text = ?, result = ?, finished = ? WHERE run_id = ?",
            (state, status_text, _dump(result or {}), now(), run_id),
        )
        if cursor.rowcount == 0:
            raise UnknownRun(f"no local run with id {run_id}")
        if attempts is not None:
            conn.execute("UPDATE runs SET attempts = ? WHERE run_id = ?", (_dump_attempts(attempts), run_id))


def record_attempts(run_id: str, attempts: Sequence[record_.Attempt]) -> None:
    """The attempts of a run still going (each as it ends)."""
    with _connect(write=True) as conn:
        conn.execute("UPDATE runs SET attempts = ? WHERE run_id = ?", (_dump_attempts(attempts), run_id))


def delete(run_id: str) -> None:
    """Remove a run's record and logs; a run still in progress cannot be deleted."""
    _reap(run_id)
    with _connect(write=True) as conn:
        row = conn.execute("SELECT state, pid FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise UnknownRun(f"no local run with id {run_id}")
        if row[0] == record_.RUNNING:
            raise InvalidInput(f"local run {run_id} is still running (process {row[1]}); stop it first")
        conn.execute("DELETE FROM logs WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))


# ------------------------------------------------------------------ reading


def find(run_id: str) -> record_.RunRecord | None:
    """The run's record, or None when no local run has this id."""
    gone = _reap(run_id)
    with _connect() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return _record(row, gone) if row else None


def get(run_id: str) -> record_.RunRecord:
    found = find(run_id)
    if found is None:
        raise UnknownRun(f"no local run with id {run_id}")
    return found


def list(  # the store's verb, called as store.list(...)
    *,
    project: str | None = None,
    function: str | None = None,
    state: str | None = None,
    limit: int | None = None,
) -> builtins.list[record_.RunRecord]:
    """Local runs, newest first, optionally filtered (``state`` as they read now)."""
    gone = _reap()
    where, args = [], []
    for column, value in (("project", project), ("function", function)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    query = f"SELECT {_COLUMNS} FROM runs"
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY started DESC, rowid DESC"
    with _connect() as conn:
        rows = conn.execute(query, args).fetchall()
    records = [_record(row, gone) for row in rows]
    if state is not None:
        records = [r for r in records if r.state == state]
    return records if limit is None else records[: max(limit, 0)]


def logs(run_id: str, *, follow: bool = False, poll: float = 0.5) -> Iterator[str]:
    """The run's output lines in order; with ``follow``, until the run is over.

    Raises UnknownRun at once (not on the first ``next``). Reads a page at a
    time, each in its own transaction, so a slow reader never holds the file.
    """
    get(run_id)
    return _lines(run_id, follow, poll)


def _lines(run_id: str, follow: bool, poll: float) -> Iterator[str]:
    last = 0
    while True:
        with _connect() as conn:
            rows = conn.execute(
                "SELECT seq, line FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (run_id, last, _PAGE),
            ).fetchall()
        for seq, line in rows:
            last = seq
            yield line
        if len(rows) == _PAGE:
            continue
        if not follow:
            return
        current = find(run_id)
        if current is None or current.done:
            # lines written between the last page and the state check
            with _connect() as conn:
                tail = conn.execute(
                    "SELECT line FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq",
                    (run_id, last),
                ).fetchall()
            yield from (line for (line,) in tail)
            return
        time.sleep(poll)


def _reap(run_id: str | None = None) -> set[str]:
    """Runs left ``running`` by a process that is gone: marked interrupted, ids returned.

    Liveness is checked outside any transaction; the update is conditional,
    so a run finished meanwhile keeps its real outcome. When the file is
    read-only the ids still come back and readers show the state anyway.
    """
    query = "SELECT run_id, pid, pid_start, host FROM runs WHERE state = ?"
    args: builtins.list[Any] = [record_.RUNNING]
    if run_id is not None:
        query += " AND run_id = ?"
        args.append(run_id)
    with _connect() as conn:
        candidates = conn.execute(query, args).fetchall()
    gone = {(rid, pid, token) for rid, pid, token, host in candidates if not _alive(pid, token, host)}
    if not gone:
        return set()
    with contextlib.suppress(StoreError), _connect(write=True) as conn:
        for rid, pid, token in gone:
            conn.execute(
                "UPDATE runs SET state = ?, status_text = ? "
                "WHERE run_id = ? AND state = ? AND pid = ? AND pid_start = ?",
                (record_.INTERRUPTED, _interrupted_text(pid), rid, record_.RUNNING, pid, token),
            )
    return {rid for rid, _, _ in gone}


def _record(row: tuple[Any, ...], gone: Collection[str] = ()) -> record_.RunRecord:
    (
        run_id,
        function,
        project,
        kind,
        namespace,
        state,
        status_text,
        started,
        finished,
        result,
        params,
        thresholds,
        pid,
        _token,
        _host,
        attempts,
    ) = row
    if state == record_.RUNNING and run_id in gone:
        state, status_text = record_.INTERRUPTED, _interrupted_text(pid)
    return record_.RunRecord(
        run_id=run_id,
        function=function,
        project=project,
        kind=kind,
        where="local",
        namespace=namespace,
        state=state,
        status_text=status_text,
        started=started,
        finished=finished,
        result=_load(result),
        params=_load(params),
        thresholds=_load(thresholds),
        attempts=_load_attempts(attempts),
    )


def _dump_attempts(attempts: Sequence[record_.Attempt]) -> str:
    return json.dumps([a.to_json() for a in attempts], default=repr)


def _load_attempts(text: str) -> tuple[record_.Attempt, ...]:
    try:
        value = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(value, builtins.list):
        return ()
    return tuple(record_.Attempt.from_json(a) for a in value if isinstance(a, dict))


def _dump(value: Mapping[str, Any]) -> str:
    # results are whatever a handler returned: repr() what JSON cannot hold
    return json.dumps(dict(value), default=repr, sort_keys=True)


def _load(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}
