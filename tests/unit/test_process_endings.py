"""However a command ends, it ends cleanly: the exit code, one message, no process left behind.

A closed pipe exits 0 quietly; Ctrl-C, SIGTERM and SIGHUP print what
stopped mlctl and exit 130/143/129; a local run takes every process it
started with it (also a ``setsid`` grandchild, which leaves the process
group) and its record says how it ended; ``-o json`` is always valid JSON.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.unit.support import REPO

# The handler starts grandchildren three ways: a plain child, a child of a
# shell that exits, and one in a session of its own (out of the run's group).
TREE = """
import subprocess, time
def handler(marker):
    marker = str(marker)
    procs = [
        subprocess.Popen(["sleep", "1000" + marker]),
        subprocess.Popen(["sh", "-c", "sleep 1001" + marker + " &"]),
        subprocess.Popen(["sleep", "1002" + marker], start_new_session=True),
    ]
    print("started", flush=True)
    time.sleep(60)
"""


def spec(tmp_path: Path, **spec: object) -> Path:
    import base64

    body = {
        "image": "python:3.11",
        "default_handler": "handler",
        "build": {"functionSourceCode": base64.b64encode(TREE.encode()).decode(), "origin_filename": "tree.py"},
        **spec,
    }
    path = tmp_path / "tree.yaml"
    path.write_text(json.dumps({"kind": "job", "metadata": {"name": "tree"}, "spec": body}))
    return path


def sleepers(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"^sleep 100[0-2]{marker}$"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def wait_for(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLCTL_STATE_DIR": str(tmp_path / "state")}
    return subprocess.Popen(
        [sys.executable, "-m", "mlctl", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job ignores SIGINT; a terminal's foreground command does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def record(tmp_path: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLCTL_STATE_DIR": str(tmp_path / "state")}
    listed = subprocess.run(
        [sys.executable, "-m", "mlctl", "runs", "list", "-o", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(listed.stdout)
    items = data["items"] if isinstance(data, dict) else data
    return dict(items[0])


@pytest.mark.parametrize(
    ("sig", "code", "message", "status"),
    [
        (signal.SIGINT, 130, "interrupted", "aborted by user"),
        (signal.SIGTERM, 143, "stopped by SIGTERM", "aborted: mlctl was stopped by SIGTERM"),
        (signal.SIGHUP, 129, "stopped by SIGHUP", "aborted: mlctl was stopped by SIGHUP"),
    ],
)
def test_a_signal_ends_a_local_run_with_its_whole_process_tree(
    tmp_path: Path, sig: int, code: int, message: str, status: str
) -> None:
    marker = f"9{sig:02d}"
    mlctl = start(tmp_path, "run", spec(tmp_path), "--local", "-p", f"marker={marker}")
    try:
        assert wait_for(lambda: len(sleepers(marker)) >= 3), "the handler did not start its children"
        mlctl.send_signal(sig)
        _out, err = mlctl.communicate(timeout=30)
    finally:
        if mlctl.poll() is None:
            mlctl.kill()
        for pid in sleepers(marker):
            os.kill(pid, signal.SIGKILL)

    assert mlctl.returncode == code
    assert message in err
    assert wait_for(lambda: not sleepers(marker), 5), "processes of the run survived it"
    assert record(tmp_path)["status_text"] == status


def test_a_threshold_abort_takes_a_setsid_grandchild_with_it(tmp_path: Path) -> None:
    from mlctl import config as config_
    from mlctl import pipeline
    from mlctl.local import runner

    marker = "977"
    os.environ["MLCTL_STATE_DIR"] = str(tmp_path / "state")
    try:
        fn = pipeline.load(str(spec(tmp_path, state_thresholds={"running": "2s"})), config_.resolve({}, [])).function
        got = runner.run(fn, config_.resolve({}, []), run_id="tree", params={"marker": marker}, grace=1.0)
    finally:
        survivors = sleepers(marker)
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)

    assert got.state == "aborted"
    assert survivors == []


def test_a_closed_pipe_exits_zero_quietly(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("kind: job\nmetadata:\n  name: h\nspec:\n  image: x\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    reader.wait()  # gone before mlctl writes a byte
    assert reader.stdin is not None
    result = subprocess.run(
        [sys.executable, "-m", "mlctl", "render", str(path)],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        check=False,
    )

    assert result.returncode == 0
    assert result.stderr == ""


def test_json_output_of_a_nan_result_is_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    from mlctl.cli import output

    output.emit({"accuracy": float("nan"), "loss": float("inf"), "items": [float("-inf"), 1.5]}, "json")

    printed = json.loads(capsys.readouterr().out, parse_constant=lambda word: pytest.fail(f"{word} is not JSON"))
    assert printed == {"accuracy": "NaN", "loss": "Infinity", "items": ["-Infinity", 1.5]}


def test_a_local_run_returning_nan_prints_valid_json(tmp_path: Path) -> None:
    import base64

    code = textwrap.dedent("""
        def handler():
            return {"accuracy": float("nan")}
    """)
    body = {
        "image": "python:3.11",
        "default_handler": "handler",
        "build": {"functionSourceCode": base64.b64encode(code.encode()).decode(), "origin_filename": "n.py"},
    }
    path = tmp_path / "nan.yaml"
    path.write_text(json.dumps({"kind": "job", "metadata": {"name": "nan"}, "spec": body}))
    mlctl = start(tmp_path, "run", str(path), "--local", "-o", "json")
    out, err = mlctl.communicate(timeout=60)

    assert mlctl.returncode == 0, err
    json.loads(out, parse_constant=lambda word: pytest.fail(f"{word} is not JSON"))


def test_mlctl_killed_with_sigkill_takes_the_runs_whole_tree_with_it(tmp_path: Path) -> None:
    marker = "909"
    mlctl = start(tmp_path, "run", spec(tmp_path), "--local", "-p", f"marker={marker}")
    try:
        assert wait_for(lambda: len(sleepers(marker)) >= 3), "the handler did not start its children"
        mlctl.kill()
        mlctl.wait(timeout=30)
        survived = not wait_for(lambda: not sleepers(marker), 5)
    finally:
        for pid in sleepers(marker):
            os.kill(pid, signal.SIGKILL)

    assert not survived, "processes of the run outlived mlctl"
