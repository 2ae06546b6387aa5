"""A local run's process supervised: its own process group, its output, its threshold, its end.

The run's process leads its own process group (so stopping it reaches all it
started) and, on Linux, dies with mlctl; mlctl adopts what the run orphans
and, when the run ends, kills whatever of its tree is left, as a pod's end
would. ``Watch`` follows the process: each output line goes to the caller
and, in batches, to the run store; the ``running`` threshold is enforced;
``stop`` sends SIGTERM and SIGKILL after the grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from mlctl.runs import local_store
from mlctl.runs import thresholds as thresholds_
from mlctl.spec import state_thresholds as state_thresholds_

Output = Callable[[str, str], None]
"""Receives (stream, line): stream is "stdout" or "stderr", the line has no newline."""

_TICK = 0.1  # how often a quiet run is looked at (threshold, exit)
_FLUSH_SECONDS = 0.5  # log lines are written to the store in batches
_FLUSH_LINES = 200
_DRAIN_SECONDS = 2.0  # a child's children may keep its output open after it exits


def process_group() -> dict[str, Any]:
    """Popen options: the child leads its own process group, and dies with mlctl.

    Its own group, so stopping the run reaches whatever it started (mpirun's
    ranks, a handler's subprocesses) and a Ctrl-C in the terminal reaches
    mlctl alone, which then stops the run in order. On Linux the child also
    gets SIGTERM when mlctl dies, so a crash leaves no orphan behind.
    """
    if os.name != "posix":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            return options
        pr_set_pdeathsig = 1

        def die_with_parent() -> None:
            prctl(pr_set_pdeathsig, int(signal.SIGTERM))

        options["preexec_fn"] = die_with_parent
    return options


_PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def adopting_orphans() -> Iterator[None]:
    """For the run's length mlctl adopts what the run orphans (a daemon, a ``setsid`` child).

    An orphan would otherwise go to init, out of reach of the run's end; as
    mlctl's child it is found and ended with the rest of the run's tree.
    """
    prctl: Any = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            prctl(_PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        if prctl is not None:
            prctl(_PR_SET_CHILD_SUBREAPER, 0)


def _children_of(pids: set[int]) -> set[int]:
    """Processes whose parent is one of ``pids`` (Linux /proc; empty elsewhere)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_bytes().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) in pids:
                found.add(int(entry.name))
    return found


def _kill_tree(root: int, spare: Iterable[int] = ()) -> None:
    """SIGKILL every process below ``root`` and below mlctl except ``spare``'s trees, until none is left.

    Runs after the run's own process ended: what it left behind was adopted
    by mlctl (the subreaper), even from another session or process group.
    """
    me = os.getpid()
    spared = set(spare)
    for _ in range(50):
        tree = {root} if _alive(root) else set()
        level = (_children_of({me}) - spared) | tree
        while level:
            tree |= level
            level = _children_of(level) - tree
        tree.discard(me)
        if not tree:
            return
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, SIGKILL)
        for pid in tree:  # reap the adopted ones, so they do not linger as zombies
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        return
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        if sig == signal.SIGTERM:
            proc.terminate()
        else:
            proc.kill()


SIGKILL = int(getattr(signal, "SIGKILL", signal.SIGTERM))


class Watch:
    """Follows a running child: output to the callback and the store, threshold, stop."""

    def __init__(
        self, proc: subprocess.Popen[str], run_id: str, limits: state_thresholds_.Thresholds, emit: Output, grace: float
    ) -> None:
        self.proc = proc
        # mlctl's other children (a local Dask cluster; a test runner's own) are not the run's
        self.spare = _children_of({os.getpid()}) - {proc.pid}
        self.run_id = run_id
        self.limits = limits
        self.emit = emit
        self.grace = grace
        self.abort_text = ""
        self.started = time.monotonic()
        self.stop_sent: float | None = None
        self.killed = False
        self.exited_at: float | None = None
        self.lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.open_streams = 0
        self.pending: list[tuple[str, str]] = []
        self.last_flush = time.monotonic()
        for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            if pipe is not None:
                self.open_streams += 1
                threading.Thread(target=_pump, args=(pipe, stream, self.lines), daemon=True).start()

    def follow(self) -> None:
        """Until the child has exited and its output is read (or given up on)."""
        while True:
            try:
                stream, line = self.lines.get(timeout=_TICK)
            except queue.Empty:
                pass
            else:
                if line is None:
                    self.open_streams -= 1
                else:
                    self.pending.append((stream, line))
                    self.emit(stream, line)
            now = time.monotonic()
            if self.pending and (len(self.pending) >= _FLUSH_LINES or now - self.last_flush >= _FLUSH_SECONDS):
                self.flush()
            if self.proc.poll() is None:
                self._enforce(now)
                continue
            if self.exited_at is None:
                self.exited_at = now
            if self.open_streams <= 0:
                return
            if now - self.exited_at > _DRAIN_SECONDS:
                # something the run started still holds its output: end it, as a pod's end would
                signal_group(self.proc, SIGKILL)
                return

    def _enforce(self, now: float) -> None:
        if self.stop_sent is not None:
            if not self.killed and now - self.stop_sent > self.grace:
                self.kill()
            return
        # whole seconds: the status text reports whole seconds, and
        # "waited 2s, limit 2s" would read as no breach at all
        text = thresholds_.breach(self.limits, "running", float(int(now - self.started)))
        if text:
            self.stop(text)

    def stop(self, reason: str) -> None:
        """SIGTERM now; SIGKILL after the grace period if the run is still there."""
        if not self.abort_text:
            self.abort_text = reason
        if self.stop_sent is None:
            self.stop_sent = time.monotonic()
            signal_group(self.proc, int(signal.SIGTERM))

    def kill(self) -> None:
        self.killed = True
        signal_group(self.proc, SIGKILL)

    def close(self) -> None:
        """Reap the child, write the last lines; leave nothing of the run behind."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=max(self.grace, 1.0))
        if self.proc.poll() is None:
            self.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        # children the handler left running would outlive it; a pod's would not
        signal_group(self.proc, SIGKILL)
        if sys.platform.startswith("linux"):
            _kill_tree(self.proc.pid, spare=self.spare)
        while True:
            try:
                stream, line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.pending.append((stream, line))
                self.emit(stream, line)
        self.flush()

    def flush(self) -> None:
        lines, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        local_store.append_logs(self.run_id, lines)


def _pump(pipe: IO[str], stream: str, lines: queue.Queue[tuple[str, str | None]]) -> None:
    """Read one pipe line by line into the queue; None marks its end."""
    try:
        for line in pipe:
            lines.put((stream, line.rstrip("\r\n")))
    except (OSError, ValueError):
        pass  # the pipe was closed under us: the run is over
    finally:
        lines.put((stream, None))
