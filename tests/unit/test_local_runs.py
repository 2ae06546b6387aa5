"""Local runs: the bootstrap as a child process, its outcome, limits and record."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import pipeline
from mlctl.errors import ExitCode, InvalidInput
from mlctl.local import runner
from mlctl.runs import local_store
from mlctl.runs import record as record_
from mlctl.spec import envfile
from mlctl.spec import overrides as overrides_
from mlctl.spec.model import FunctionSpec

ROOT = Path(__file__).resolve().parents[2]
CONFIG = config_.resolve({}, [])


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv(local_store.STATE_DIR_ENV, str(folder))
    return folder


def write_spec(tmp_path: Path, code: str | None, kind: str = "job", **spec: Any) -> Path:
    """A function file as MLRun exports it, with ``code`` embedded."""
    body: dict[str, Any] = {"image": "python:3.11", "default_handler": "handler", **spec}
    if code is not None:
        source = textwrap.dedent(code).encode()
        body["build"] = {"functionSourceCode": base64.b64encode(source).decode(), "origin_filename": "trainer.py"}
    document = {"kind": kind, "metadata": {"name": "trainer", "project": "demo"}, "spec": body}
    path = tmp_path / "function.yaml"
    path.write_text(json.dumps(document), encoding="utf-8")  # JSON is YAML
    return path


def function(
    tmp_path: Path, code: str | None, kind: str = "job", overrides: overrides_.Overrides | None = None, **spec: Any
) -> FunctionSpec:
    path = write_spec(tmp_path, code, kind, **spec)
    return pipeline.load(str(path), CONFIG, overrides).function


class Output:
    """Collects what a run writes, with the time each line arrived."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, float]] = []

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line, time.monotonic()))

    def text(self, stream: str | None = None) -> list[str]:
        return [line for s, line, _ in self.lines if stream in (None, s)]


def run(fn: FunctionSpec, run_id: str = "run1", **kwargs: Any) -> tuple[record_.RunRecord, Output]:
    out = Output()
    kwargs.setdefault("on_output", out)
    return runner.run(fn, CONFIG, run_id=run_id, **kwargs), out


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------ outcomes


def test_handler_return_value_and_logged_results_come_back(tmp_path: Path) -> None:
    fn = function(
        tmp_path,
        """
        def handler(context, x=1):
            print("training with", x)
            context.log_result("accuracy", 0.9)
            return x * 2
    """,
    )
    record, out = run(fn, params={"x": 21})
    assert record.state == record_.SUCCEEDED
    assert dict(record.result) == {"accuracy": 0.9, "return": 42}
    assert record.where == "local"
    assert dict(record.params) == {"x": 21}
    assert ("stdout", "training with 21") in [(s, line) for s, line, _ in out.lines]
    assert local_store.get("run1") == record
    assert "training with 21" in list(local_store.logs("run1"))


def test_handler_that_raises_ends_in_state_error(tmp_path: Path) -> None:
    fn = function(
        tmp_path,
        """
        def handler():
            raise ValueError("bad data in column 3")
    """,
    )
    record, out = run(fn)
    assert record.state == record_.FAILED
    assert record.status_text == "ValueError: bad data in column 3"
    assert any("Traceback" in line for line in out.text("stderr"))


def test_broken_handler_name_says_which_handlers_exist(tmp_path: Path) -> None:
    fn = function(
        tmp_path,
        """
        def train():
            return 1
    """,
        default_handler="trian",
    )
    record, _ = run(fn)
    assert record.state == record_.FAILED
    assert record.status_text == (
        "the handler could not start: LookupError: handler 'trian' not found in trainer.py (functions there: train)"
    )


def test_handler_argument_overrides_the_default_handler(tmp_path: Path) -> None:
    fn = function(
        tmp_path,
        """
        def handler():
            return "default"
        def other():
            return "other"
    """,
    )
    record, _ = run(fn, handler="other")
    assert record.result["return"] == "other"


def test_handler_that_exits_reports_its_exit_code(tmp_path: Path) -> None:
    fn = function(
        tmp_path,
        """
        import sys
        def handler():
            sys.exit(3)
    """,
    )
    record, _ = run(fn)
    assert record.state == record_.FAILED
    assert record.status_text == "the process exited with code 3"


def test_plain_command_without_code_is_judged_by_its_exit_code(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("import sys\nprint('plain')\nsys.exit(4)\n")
    fn = function(tmp_path, None, command=f"{sys.executable} {script}", default_handler="")
    record, out = run(fn)
    assert record.state == record_.FAILED
    assert record.status_text == "the process exited with code 4"
    assert out.text("stdout") == ["plain"]


def test_output_is_streamed_while_the_run_goes_on(tmp_path: Path) -> None:
    fn = function(
        tmp_path,
        """
        import sys, time
        def handler():
            print("early")
            print("to stderr", file=sys.stderr)
            time.sleep(1.5)
            print("late")
    """,
    )
    record, out = run(fn)
    assert record.state == record_.SUCCEEDED
    arrived = {line: at for _, line, at in out.lines}
    assert arrived["late"] - arrived["early"] > 1.0
    assert ("stderr", "to stderr") in [(s, line) for s, line, _ in out.lines]


# ------------------------------------------------------------------ thresholds


SLEEPER = """
    import os, time
    def handler(pid_file=""):
        if pid_file:
            open(pid_file, "w").write(str(os.getpid()))
        print("started", flush=True)
        time.sleep(60)
"""


def test_run_past_its_running_threshold_is_aborted_with_mlrun_status_text(tmp_path: Path) -> None:
    fn = function(tmp_path, SLEEPER, state_thresholds={"running": "2s"})
    pid_file = tmp_path / "pid"
    began = time.monotonic()
    record, _ = run(fn, params={"pid_file": str(pid_file)})
    assert time.monotonic() - began < 15
    assert record.state == record_.ABORTED
    assert record.status_text == ("Run aborted due to exceeded state threshold: running (waited 3s, limit 2s)")
    assert gone(int(pid_file.read_text()))
    assert local_store.get("run1").state == record_.ABORTED


def test_executing_is_the_same_threshold_as_running(tmp_path: Path) -> None:
    fn = function(tmp_path, SLEEPER, state_thresholds={"executing": "1s"})
    record, _ = run(fn)
    assert record.status_text.startswith("Run aborted due to exceeded state threshold: running")
    assert dict(record.thresholds)["running"] == "1s"


def test_per_run_thresholds_replace_the_functions(tmp_path: Path) -> None:
    fn = function(tmp_path, SLEEPER, state_thresholds={"running": "1h"})
    record, _ = run(fn, thresholds={"running": "1s"})
    assert record.state == record_.ABORTED
    assert record.status_text.endswith("limit 1s)")


def test_run_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    fn = function(
        tmp_path,
        """
        import signal, time
        def handler():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("stubborn", flush=True)
            time.sleep(60)
    """,
        state_thresholds={"running": "1s"},
    )
    began = time.monotonic()
    record, _ = run(fn, grace=1.0)
    assert time.monotonic() - began < 10
    assert record.state == record_.ABORTED


def test_ctrl_c_stops_the_run_and_records_it_aborted(tmp_path: Path) -> None:
    fn = function(tmp_path, SLEEPER)
    pid_file = tmp_path / "pid"

    def interrupt(stream: str, line: str) -> None:
        if line == "started":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run(fn, CONFIG, run_id="run1", params={"pid_file": str(pid_file)}, on_output=interrupt)
    got = local_store.get("run1")
    assert got.state == record_.ABORTED
    assert got.status_text == "aborted by user"
    assert gone(int(pid_file.read_text()))


# ------------------------------------------------------------------ environment


ENV_PRINTER = """
    import os
    def handler():
        return {k: os.environ.get(k) for k in ("A", "B", "C", "D", "FROM_SECRET")}
"""


def test_env_precedence_spec_then_env_file_then_env_flag(tmp_path: Path) -> None:
    env_file = tmp_path / "run.env"
    env_file.write_text("B=file\nC=file\n")
    overrides = overrides_.Overrides(
        env_files=(envfile.read(env_file),),
        env=overrides_.parse_env(["C=flag"], {}),
    )
    spec_env = [{"name": n, "value": "spec"} for n in ("A", "B", "C")]
    fn = function(tmp_path, ENV_PRINTER, overrides=overrides, env=spec_env)
    record, _ = run(fn, environ={"A": "shell", "D": "shell", "PATH": os.environ["PATH"]})
    assert record.result["return"] == {"A": "spec", "B": "file", "C": "flag", "D": "shell", "FROM_SECRET": None}


def test_env_from_secrets_is_left_unset_with_a_warning(tmp_path: Path) -> None:
    env = [{"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    fn = function(tmp_path, ENV_PRINTER, env=env)
    warnings = runner.check(fn)
    assert len(warnings) == 1
    assert "FROM_SECRET" in warnings[0]
    assert "--env" in warnings[0]
    record, _ = run(fn, environ={"PATH": os.environ["PATH"]})
    assert record.result["return"]["FROM_SECRET"] is None


# ------------------------------------------------------------------ mounts and kinds


def test_mounts_are_ignored_with_one_warning_naming_them(tmp_path: Path) -> None:
    fn = function(
        tmp_path,
        ENV_PRINTER,
        volumes=[
            {"name": "data", "persistentVolumeClaim": {"claimName": "training-data"}},
            {"name": "cfg", "configMap": {"name": "settings"}},
            {"name": "creds", "secret": {"secretName": "aws"}},
            {"name": "v3io", "flexVolume": {"driver": "v3io/fuse", "options": {}}},
        ],
        volume_mounts=[
            {"name": "data", "mountPath": "/data"},
            {"name": "cfg", "mountPath": "/etc/cfg"},
            {"name": "creds", "mountPath": "/secrets"},
            {"name": "v3io", "mountPath": "/v3io"},
        ],
    )
    warnings = runner.check(fn)
    assert len(warnings) == 1
    for part in (
        "data (PVC training-data) at /data",
        "cfg (ConfigMap settings) at /etc/cfg",
        "creds (Secret aws) at /secrets",
        "v3io (v3io) at /v3io",
    ):
        assert part in warnings[0]
    record, _ = run(fn)
    assert record.state == record_.SUCCEEDED


def test_a_plain_job_has_no_warnings(tmp_path: Path) -> None:
    assert runner.check(function(tmp_path, ENV_PRINTER)) == []


@pytest.mark.parametrize(
    ("kind", "needed"),
    [
        ("nuclio", "Nuclio"),
        ("remote", "Nuclio"),
        ("serving", "Nuclio"),
        ("application", "Nuclio"),
        ("spark", "Spark operator"),
    ],
)
def test_cluster_only_kinds_say_what_they_need(tmp_path: Path, kind: str, needed: str) -> None:
    fn = function(tmp_path, ENV_PRINTER, kind=kind)
    with pytest.raises(InvalidInput, match=needed) as caught:
        runner.run(fn, CONFIG, run_id="run1")
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    assert local_store.find("run1") is None  # nothing started, nothing recorded


def test_mpijob_without_mpirun_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fn = function(tmp_path, ENV_PRINTER, kind="mpijob", replicas=2)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(InvalidInput, match="mpirun, which is not on PATH") as caught:
        runner.check(fn)
    assert "Open MPI" in caught.value.message
    assert "MPICH" in caught.value.message


FAKE_MPIRUN = f"""#!{sys.executable}
# Stands in for mpirun: notes its arguments, runs the program once per rank.
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_MPIRUN_LOG"], "w") as log:
    json.dump(args, log)
ranks = int(args[args.index("-np") + 1])
program = args[args.index("-np") + 2:]
while program and program[0].startswith("-"):
    program = program[2:]  # an option and its value, e.g. -x NAME
codes = [subprocess.call(program, env={{**os.environ, "OMPI_COMM_WORLD_RANK": str(rank)}})
         for rank in range(ranks)]
sys.exit(max(codes))
"""

RANKED = """
    import os
    def handler():
        rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
        if rank == 2:
            raise RuntimeError("rank two failed")
        return rank
"""


def fake_mpirun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    mpirun = folder / "mpirun"
    mpirun.write_text(FAKE_MPIRUN)
    mpirun.chmod(mpirun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "mpirun.json"
    monkeypatch.setenv("FAKE_MPIRUN_LOG", str(log))
    return log


def test_mpijob_runs_its_replicas_under_mpirun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = fake_mpirun(tmp_path, monkeypatch)
    fn = function(
        tmp_path,
        RANKED.replace("rank == 2", "rank == 99"),
        kind="mpijob",
        replicas=3,
        mpi_args=["-x", "NCCL_DEBUG=INFO"],
    )
    record, _ = run(fn)
    args = json.loads(log.read_text())
    assert args[:5] == ["-np", "3", "-x", "NCCL_DEBUG=INFO", sys.executable]
    assert record.state == record_.SUCCEEDED
    assert record.result["return"] == 0  # rank 0 writes the run's result


def test_mpijob_failure_on_another_rank_names_the_rank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_mpirun(tmp_path, monkeypatch)
    fn = function(tmp_path, RANKED, kind="mpijob", replicas=3)
    record, _ = run(fn)
    assert record.state == record_.FAILED
    assert record.status_text == "rank 2: RuntimeError: rank two failed"


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="no MPI launcher installed")
def test_mpijob_under_a_real_mpirun(tmp_path: Path) -> None:
    fn = function(tmp_path, RANKED.replace("rank == 2", "rank == 99"), kind="mpijob", replicas=2)
    record, out = run(fn)
    assert record.state == record_.SUCCEEDED, (record.status_text, out.text())
    assert record.result["return"] == 0


def test_dask_without_dask_distributed_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    fn = function(tmp_path, ENV_PRINTER, kind="dask")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    with pytest.raises(InvalidInput, match=r"mlctl\[local-dask\]"):
        runner.check(fn)


def test_dask_handler_reaches_a_local_cluster(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    fn = function(
        tmp_path,
        """
        import os
        from distributed import Client
        def handler():
            with Client() as client:
                return client.submit(pow, 2, 10).result()
    """,
        kind="dask",
        min_replicas=1,
        max_replicas=1,
    )
    record, out = run(fn)
    assert record.state == record_.SUCCEEDED, (record.status_text, out.text())
    assert record.result["return"] == 1024


# ------------------------------------------------------------------ crash of mlctl


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_mlctl_killed_mid_run_leaves_an_interrupted_record_and_no_orphan(tmp_path: Path, state_dir: Path) -> None:
    path = write_spec(tmp_path, SLEEPER)
    pid_file = tmp_path / "pid"
    program = textwrap.dedent(f"""
        from mlctl import config, pipeline
        from mlctl.local import runner
        fn = pipeline.load({str(path)!r}, config.resolve({{}}, [])).function
        runner.run(fn, config.resolve({{}}, []), run_id="crash",
                   params={{"pid_file": {str(pid_file)!r}}})
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), local_store.STATE_DIR_ENV: str(state_dir)}
    mlctl = subprocess.Popen([sys.executable, "-c", program], env=env)
    try:
        assert wait_for(lambda: pid_file.exists() and pid_file.read_text())
        assert wait_for(lambda: "started" in list(local_store.logs("crash")))
        assert local_store.get("crash").state == record_.RUNNING
        mlctl.send_signal(signal.SIGKILL)
        mlctl.wait()
    finally:
        if mlctl.poll() is None:
            mlctl.kill()
    got = local_store.get("crash")
    assert got.state == record_.INTERRUPTED
    assert "mlctl stopped before the run finished" in got.status_text
    assert list(local_store.logs("crash")) == ["started"]
    assert wait_for(lambda: gone(int(pid_file.read_text())))
