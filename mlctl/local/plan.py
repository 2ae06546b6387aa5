"""A local run planned and judged: the command, environment and files it starts with, and what its end means.

``plan`` writes the code and the bootstrap into the run's temporary folder
and returns the argv and environment to start (under ``mpirun`` for an
``mpijob``); a plain ``spec.command`` runs as given and is judged by its exit
code. ``outcome`` reads the result file the bootstrap wrote (every rank's,
for MPI) and the exit code into the run's final state.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlctl.config import Config
from mlctl.render import pod
from mlctl.runs import record as record_
from mlctl.spec.model import FunctionSpec

_RANK_LAUNCHER = """\
# Run by mpirun on every rank: one result file per rank, so ranks never
# overwrite each other's; rank 0 writes the run's result.
import os, runpy, sys
rank = "0"
for name in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
    if os.environ.get(name):
        rank = os.environ[name]
        break
if rank != "0":
    os.environ["MLCTL_RESULT_PATH"] = os.environ.get("MLCTL_RESULT_PATH", "") + ".rank" + rank
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass
class Outcome:
    state: str
    status_text: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


@dataclass
class Plan:
    argv: list[str]
    env: dict[str, str]
    result_file: Path | None  # None: a plain command, judged by its exit code alone


def plan(
    fn: FunctionSpec,
    config: Config,
    tmp: Path,
    run_id: str,
    params: dict[str, Any],
    handler: str | None,
    environ: Mapping[str, str] | None,
) -> Plan:
    env = dict(os.environ if environ is None else environ)
    for entry in pod.env(fn, config):
        if "value" in entry:  # valueFrom has no local source (check() warned)
            env[entry["name"]] = entry["value"]
    env.setdefault("PYTHONUNBUFFERED", "1")  # lines should reach the user as printed
    args = [str(a) for a in fn.get("args") or []]
    command = str(fn.get("command") or "")
    handler_name = handler or str(fn.get("default_handler") or "") or "handler"
    if fn.code is not None:
        code = tmp / fn.code.filename
        code.write_text(fn.code.text, encoding="utf-8")
    elif command.endswith(".py") and (handler or fn.get("default_handler")):
        code = _local_path(command, fn.source)
    else:
        # a plain command (MLRun's "pass" mode): run as given, judged by its exit code
        argv = [*shlex.split(command), *args]
        return Plan(_mpirun(fn, env, argv) if fn.runtime == "mpijob" else argv, env, None)
    bootstrap = tmp / "bootstrap.py"
    bootstrap.write_text(pod.bootstrap_source(), encoding="utf-8")
    result = tmp / "result.json"
    env["MLCTL_RUN"] = json.dumps(
        {"run_id": run_id, "function": fn.name, "params": params, "handler": handler_name, "code": str(code)},
        sort_keys=True,
        default=str,
    )
    env["MLCTL_RESULT_PATH"] = str(result)
    argv = [sys.executable, str(bootstrap), *args]
    if fn.runtime == "mpijob":
        launcher = tmp / "mpi_rank.py"
        launcher.write_text(_RANK_LAUNCHER, encoding="utf-8")
        argv = _mpirun(fn, env, [sys.executable, str(launcher), *argv[1:]])
    return Plan(argv, env, result)


def _local_path(command: str, source: str) -> Path:
    """A code file named by spec.command: as given, else beside the spec file."""
    given = Path(command)
    if given.is_absolute() or given.exists():
        return given.resolve()
    beside = Path(source).parent / given
    return beside.resolve() if beside.exists() else given.resolve()


def _mpirun(fn: FunctionSpec, env: dict[str, str], argv: list[str]) -> list[str]:
    """``argv`` on ``replicas`` ranks (MLRun: the workers; locally every rank is a process)."""
    replicas = int(fn.get("replicas") or 1)
    mpi_args = [str(a) for a in fn.get("mpi_args") or []]
    # Open MPI refuses to start as root and to place more ranks than cores;
    # a local run is a developer's test, so allow both (unless already set)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    env.setdefault("PRTE_MCA_rmaps_default_mapping_policy", ":oversubscribe")
    mpirun = shutil.which("mpirun") or "mpirun"
    return [mpirun, "-np", str(replicas), *mpi_args, *argv]


def outcome(returncode: int, abort_text: str, result_file: Path | None) -> Outcome:
    payload = _read_result(result_file) if result_file else None
    if returncode != 0 and result_file is not None and not (payload and "error" in payload):
        # rank 0 may have finished well while another rank failed the run
        payload = _rank_error(result_file) or payload
    results = payload.get("results") if payload else None
    results = dict(results) if isinstance(results, dict) else {}
    if abort_text:
        return Outcome(record_.ABORTED, abort_text, results, returncode)
    if returncode == 0 and not (payload and "error" in payload):
        if payload and "results" not in payload:
            results = dict(payload)  # the bootstrap's truncated form
        return Outcome(record_.SUCCEEDED, "", results, returncode)
    error = str(payload["error"]) if payload and "error" in payload else ""
    if returncode == 2 and error:
        return Outcome(record_.FAILED, f"the handler could not start: {error}", results, returncode)
    return Outcome(record_.FAILED, error or _exit_text(returncode), results, returncode)


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _rank_error(result_file: Path) -> dict[str, Any] | None:
    """An MPI run failed on a rank other than 0: that rank's error."""
    for path in sorted(result_file.parent.glob(result_file.name + ".rank*")):
        payload = _read_result(path)
        if payload and "error" in payload:
            rank = path.name.rpartition(".rank")[2]
            return {**payload, "error": f"rank {rank}: {payload['error']}"}
    return None


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the process was killed by {name}{hint}"
    return f"the process exited with code {returncode}"
