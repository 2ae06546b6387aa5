"""The local run store: records that outlive mlctl, read safely by many processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlctl.errors import ExitCode, InvalidInput
from mlctl.runs import local_store
from mlctl.runs import record as record_


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv(local_store.STATE_DIR_ENV, str(folder))
    return folder


def new_record(
    run_id: str = "r1", *, function: str = "trainer", project: str = "demo", started: str = ""
) -> record_.RunRecord:
    return record_.RunRecord(
        run_id=run_id,
        function=function,
        project=project,
        kind="job",
        where="local",
        namespace="",
        state=record_.RUNNING,
        started=started,
        params={"x": 1},
        thresholds={"running": "2s"},
    )


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_store_lives_in_the_state_dir_from_the_environment(state_dir: Path) -> None:
    local_store.start(new_record(), 1)
    assert (state_dir / "runs.db").is_file()
    assert local_store.path() == state_dir / "runs.db"


def test_store_defaults_to_the_platform_user_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv(local_store.STATE_DIR_ENV)
    assert local_store.state_dir() == Path(platformdirs.user_state_dir("mlctl"))


def test_store_uses_wal_mode(state_dir: Path) -> None:
    local_store.start(new_record(), 1)
    with sqlite3.connect(state_dir / "runs.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_started_run_reads_back_as_running_while_its_process_lives() -> None:
    local_store.start(new_record(started="2024-05-01T10:00:00Z"), os.getpid())
    got = local_store.get("r1")
    assert got.state == record_.RUNNING
    assert (got.function, got.project, got.kind, got.where) == ("trainer", "demo", "job", "local")
    assert got.started == "2024-05-01T10:00:00Z"
    assert dict(got.params) == {"x": 1}
    assert dict(got.thresholds) == {"running": "2s"}
    assert not got.done


def test_start_fills_in_the_start_time() -> None:
    local_store.start(new_record(), os.getpid())
    assert local_store.get("r1").started.endswith("Z")


def test_finish_records_state_status_text_and_result() -> None:
    local_store.start(new_record(), os.getpid())
    local_store.finish("r1", record_.FAILED, "ValueError: boom", {"loss": 0.5, "odd": {1, 2}})
    got = local_store.get("r1")
    assert got.state == record_.FAILED
    assert got.status_text == "ValueError: boom"
    assert got.result["loss"] == 0.5
    assert got.result["odd"] == "{1, 2}"  # what JSON cannot hold is kept as its repr
    assert got.finished
    assert got.done


def test_finish_refuses_a_state_that_is_not_final() -> None:
    local_store.start(new_record(), os.getpid())
    with pytest.raises(ValueError, match="not a final state"):
        local_store.finish("r1", record_.RUNNING)


def test_unknown_run_is_an_invalid_input_error() -> None:
    assert local_store.find("nope") is None
    with pytest.raises(local_store.UnknownRun, match="no local run with id nope") as caught:
        local_store.get("nope")
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    with pytest.raises(local_store.UnknownRun):
        local_store.finish("nope", record_.SUCCEEDED)
    with pytest.raises(local_store.UnknownRun):
        local_store.logs("nope")


def test_the_same_run_id_cannot_start_twice() -> None:
    local_store.start(new_record(), os.getpid())
    with pytest.raises(InvalidInput, match="already exists"):
        local_store.start(new_record(), os.getpid())


def test_logs_come_back_in_order_across_pages() -> None:
    local_store.start(new_record(), os.getpid())
    local_store.append_log("r1", "first")
    local_store.append_logs("r1", [("stderr", f"line {i}") for i in range(2500)])
    local_store.append_log("r1", "last", "stderr")
    lines = list(local_store.logs("r1"))
    assert lines[0] == "first"
    assert lines[1:-1] == [f"line {i}" for i in range(2500)]
    assert lines[-1] == "last"


def test_logs_of_one_run_do_not_mix_with_another() -> None:
    local_store.start(new_record("a"), os.getpid())
    local_store.start(new_record("b"), os.getpid())
    local_store.append_log("a", "from a")
    local_store.append_log("b", "from b")
    assert list(local_store.logs("a")) == ["from a"]


def test_follow_stops_when_the_run_finishes() -> None:
    local_store.start(new_record(), os.getpid())
    local_store.append_log("r1", "one")
    local_store.finish("r1", record_.SUCCEEDED)
    assert list(local_store.logs("r1", follow=True, poll=0.01)) == ["one"]


def test_run_whose_process_died_reads_as_interrupted_not_lost() -> None:
    # mlctl crashed mid-run: the record was started, never finished
    local_store.start(new_record(), dead_pid())
    local_store.append_log("r1", "epoch 1")
    got = local_store.get("r1")
    assert got.state == record_.INTERRUPTED
    assert "mlctl stopped before the run finished" in got.status_text
    assert got.done
    assert list(local_store.logs("r1")) == ["epoch 1"]


def test_interrupted_state_is_written_back_and_filters_by_it() -> None:
    local_store.start(new_record("gone"), dead_pid())
    local_store.start(new_record("alive"), os.getpid())
    assert [r.run_id for r in local_store.list(state=record_.RUNNING)] == ["alive"]
    assert [r.run_id for r in local_store.list(state=record_.INTERRUPTED)] == ["gone"]
    with sqlite3.connect(local_store.path()) as conn:
        states = dict(conn.execute("SELECT run_id, state FROM runs").fetchall())
    assert states == {"gone": record_.INTERRUPTED, "alive": record_.RUNNING}


@pytest.mark.skipif(not local_store.process_token(os.getpid()), reason="needs /proc start times")
def test_a_reused_pid_does_not_keep_a_dead_run_running() -> None:
    local_store.start(new_record(), os.getpid())
    with sqlite3.connect(local_store.path()) as conn:
        conn.execute("UPDATE runs SET pid_start = 'other-boot:1'")
    assert local_store.get("r1").state == record_.INTERRUPTED


def test_finished_run_is_never_marked_interrupted() -> None:
    local_store.start(new_record(), dead_pid())
    local_store.finish("r1", record_.SUCCEEDED, "", {"return": 1})
    assert local_store.get("r1").state == record_.SUCCEEDED


def test_list_is_newest_first_and_filters() -> None:
    pid = os.getpid()
    local_store.start(new_record("old", started="2024-01-01T00:00:00Z"), pid)
    local_store.start(new_record("mid", function="other", started="2024-02-01T00:00:00Z"), pid)
    local_store.start(new_record("new", project="p2", started="2024-03-01T00:00:00Z"), pid)
    local_store.finish("old", record_.SUCCEEDED)
    assert [r.run_id for r in local_store.list()] == ["new", "mid", "old"]
    assert [r.run_id for r in local_store.list(project="demo")] == ["mid", "old"]
    assert [r.run_id for r in local_store.list(function="other")] == ["mid"]
    assert [r.run_id for r in local_store.list(state=record_.SUCCEEDED)] == ["old"]
    assert [r.run_id for r in local_store.list(limit=2)] == ["new", "mid"]


def test_delete_removes_the_record_and_its_logs() -> None:
    local_store.start(new_record(), os.getpid())
    local_store.append_log("r1", "x")
    local_store.finish("r1", record_.SUCCEEDED)
    local_store.delete("r1")
    assert local_store.find("r1") is None
    with sqlite3.connect(local_store.path()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM logs").fetchone()[0] == 0
    with pytest.raises(local_store.UnknownRun):
        local_store.delete("r1")


def test_delete_refuses_a_run_still_in_progress() -> None:
    local_store.start(new_record(), os.getpid())
    with pytest.raises(InvalidInput, match="still running"):
        local_store.delete("r1")
    assert local_store.find("r1") is not None


def test_delete_accepts_an_interrupted_run() -> None:
    local_store.start(new_record(), dead_pid())
    local_store.delete("r1")
    assert local_store.find("r1") is None


def test_two_processes_write_and_read_at_once(state_dir: Path) -> None:
    writer = textwrap.dedent("""
        import os, sys
        from mlctl.runs import local_store, record
        run_id = sys.argv[1]
        local_store.start(record.RunRecord(run_id=run_id, function="f", project="", kind="job",
                    where="local", namespace="", state="running"), os.getpid())
        for i in range(300):
            local_store.append_log(run_id, f"{run_id} {i}")
            if i % 50 == 0:
                local_store.list()
        local_store.finish(run_id, "completed", "", {"n": 300})
    """)
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), local_store.STATE_DIR_ENV: str(state_dir), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", writer, name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name in ("w1", "w2", "w3")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    for name in ("w1", "w2", "w3"):
        got = local_store.get(name)
        assert got.state == record_.SUCCEEDED
        assert list(local_store.logs(name)) == [f"{name} {i}" for i in range(300)]


def test_an_unusable_state_dir_is_invalid_input_naming_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlctl.cli import main

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv(local_store.STATE_DIR_ENV, str(blocker))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config: runs list reads only the local store

    with pytest.raises(local_store.StateDirError) as raised:
        local_store.list()
    code = main.invoke(["runs", "list"])

    assert raised.value.exit_code == 3
    assert str(blocker) in str(raised.value) and local_store.STATE_DIR_ENV in str(raised.value)
    assert code == 3
    assert str(blocker) in capsys.readouterr().err
