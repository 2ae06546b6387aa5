"""Timing helpers shared by the benchmark scripts (not a test; prints figures)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "mlrun-hub"


def mlctl_command() -> list[str]:
    """The installed ``mlctl`` script of this interpreter (what a user types), else ``python -m mlctl``."""
    script = Path(sysconfig.get_path("scripts")) / "mlctl"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "mlctl"]


def environment() -> dict[str, str]:
    """The caller's environment with bytecode caching on, in a private folder.

    A fresh process each run ("cold" start), but with compiled bytecode as an
    installed package has it: PYTHONDONTWRITEBYTECODE would otherwise make
    every run compile mlctl's modules and measure the compiler.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="mlctl-bench-pyc-")
    for name in list(env):
        if name.startswith(("MLCTL_", "MLRUN_")):
            del env[name]
    return env


def median_seconds(commands: Sequence[Sequence[str]], runs: int, env: dict[str, str], cwd: Path = REPO) -> list[float]:
    """Median wall time of each command over ``runs`` runs, interleaved, after two warm-up runs each."""
    for command in commands:
        for _ in range(2):
            subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            times[index].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def under_time(command: Sequence[str], report: Path) -> list[str]:
    """``command`` run by GNU time, which writes its peak RSS in KB to ``report``.

    ``os.wait4`` from the benchmark itself would overstate it: a child's peak
    includes the memory of the process it was forked from, up to its exec.
    """
    return ["/usr/bin/time", "-f", "%M", "-o", str(report), *command]


def peak_rss_mb(report: Path) -> float:
    return int(report.read_text().split()[-1]) / 1024
