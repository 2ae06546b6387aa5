"""A local Dask cluster for a local run of kind ``dask``, in a process of its own.

The cluster is the ``dask_cluster.py`` payload started with mlctl's
interpreter; it prints the scheduler's address, then serves until its
standard input closes, which is how the run's end shuts it down.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from mlctl import payloads
from mlctl.local import processes
from mlctl.spec.model import FunctionSpec

_DASK_START_SECONDS = 120.0


class ClusterFailed(Exception):
    """The local Dask cluster could not be started."""


@contextlib.contextmanager
def cluster(fn: FunctionSpec, tmp: Path, env: Mapping[str, str]) -> Iterator[str]:
    """A local Dask cluster for the run's length; yields the scheduler address."""
    argv = [
        sys.executable,
        str(payloads.path("dask_cluster.py")),
        str(int(fn.get("min_replicas", 0))),
        str(int(fn.get("max_replicas", 16))),
        str(int(fn.get("nthreads", 1))),
    ]
    if fn.get("replicas") is not None:
        argv.append(str(int(fn.get("replicas"))))
    log = tmp / "dask-cluster.log"
    with log.open("w", encoding="utf-8") as err:
        try:
            proc = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                **processes.process_group(),
            )
        except OSError as exc:
            raise ClusterFailed(f"cannot start a local Dask cluster: {exc}") from None
        try:
            address = _first_line(proc, _DASK_START_SECONDS)
            if not address:
                raise ClusterFailed("the local Dask cluster did not start: " + _tail(log))
            yield address
        finally:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # the cluster's signal to shut down
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                processes.signal_group(proc, processes.SIGKILL)
                proc.wait()
            processes.signal_group(proc, processes.SIGKILL)  # workers that outlived their nanny


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        line = proc.stdout.readline() if proc.stdout else ""
        found.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    try:
        return found.get(timeout=timeout)
    except queue.Empty:
        return ""


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    return " | ".join(text[-lines:]) or "no output"
