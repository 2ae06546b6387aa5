"""Editing a spec never loses an edit or changes what the file is.

Two editors at once both land; a symlink is edited at its target; hard
links, owner, group, mode and CRLF line endings are kept; a file the user
may not write is refused untouched; temporaries of a killed editor go away.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.unit.support import REPO, Cli

SPEC = "kind: job\nmetadata:\n  name: trainer\nspec:\n  image: python:3.11\n"
NOBODY = 65534


def mlctl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "mlctl", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_two_editors_at_once_both_land(tmp_path: Path) -> None:
    for _ in range(3):
        path = tmp_path / "c.yaml"
        path.write_text(SPEC)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        commands = [["set-env", path.name, "A=1"], ["set-thresholds", path.name, "running=2h"]]
        editors = [
            subprocess.Popen([sys.executable, "-m", "mlctl", *c], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
            for c in commands
        ]
        assert [e.wait() for e in editors] == [0, 0]

        spec = yaml.safe_load(path.read_text())["spec"]
        assert spec["env"] == [{"name": "A", "value": "1"}]
        assert spec["state_thresholds"] == {"running": "2h"}


def test_an_edit_waits_for_another_editor_holding_the_lock(tmp_path: Path) -> None:
    import fcntl
    import threading

    path = tmp_path / "c.yaml"
    path.write_text(SPEC)
    with path.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        # the other editor replaces the file while holding the lock
        done = threading.Event()
        result: list[subprocess.CompletedProcess[str]] = []
        waiter = threading.Thread(
            target=lambda: (result.append(mlctl("set-env", path, "A=1", cwd=tmp_path)), done.set())
        )
        waiter.start()
        assert not done.wait(1.5)
        replacement = tmp_path / "new.yaml"
        replacement.write_text(SPEC.replace("trainer", "renamed"))
        replacement.replace(path)
    waiter.join(30)

    assert result[0].returncode == 0, result[0].stderr
    data = yaml.safe_load(path.read_text())
    assert data["metadata"]["name"] == "renamed"
    assert data["spec"]["env"] == [{"name": "A", "value": "1"}]


def test_a_symlink_is_edited_at_its_target_and_stays_a_link(cli: Cli, tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(SPEC)
    link = tmp_path / "link.yaml"
    link.symlink_to("real.yaml")

    assert cli("set-priority", link, "high").code == 0

    assert link.is_symlink()
    assert yaml.safe_load(real.read_text())["spec"]["priority_class_name"] == "high"


def test_a_hard_linked_file_stays_one_file(cli: Cli, tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(SPEC)
    other = tmp_path / "other.yaml"
    os.link(real, other)

    assert cli("set-priority", real, "high").code == 0

    assert real.stat().st_ino == other.stat().st_ino
    assert yaml.safe_load(other.read_text())["spec"]["priority_class_name"] == "high"


def test_owner_group_and_mode_are_kept(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SPEC)
    path.chmod(0o640)
    os.chown(path, NOBODY, NOBODY)

    assert cli("set-priority", path, "high").code == 0

    status = path.stat()
    assert (status.st_uid, status.st_gid, status.st_mode & 0o7777) == (NOBODY, NOBODY, 0o640)
    assert "priority_class_name: high" in path.read_text()


def test_crlf_line_endings_are_kept(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(SPEC.replace("\n", "\r\n").encode())

    assert cli("set-priority", path, "high").code == 0

    raw = path.read_bytes()
    assert b"priority_class_name: high\r\n" in raw
    assert raw.count(b"\n") == raw.count(b"\r\n")


def test_temporaries_of_a_killed_editor_are_removed_by_the_next_edit(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SPEC)
    stale = tmp_path / ".c.yaml.k3j_9x0a.tmp"
    stale.write_text("half")
    unrelated = tmp_path / ".other.yaml.k3j_9x0a.tmp"
    unrelated.write_text("not ours")

    assert cli("set-priority", path, "high").code == 0

    assert not stale.exists()
    assert unrelated.exists()


def test_a_spec_the_pure_parser_refuses_is_a_located_error_when_edited(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("kind: job\nmetadata: {name: h}\t\nspec:\n  image: x\n")
    before = path.read_bytes()

    result = cli("set-priority", path, "high")

    assert result.code == 3
    assert f"{path}:2:" in result.err
    assert path.read_bytes() == before


def test_a_file_that_is_not_utf8_is_refused_when_edited(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(SPEC.replace("trainer", "tr\xe4iner").encode("latin-1"))
    before = path.read_bytes()

    result = cli("set-priority", path, "high")

    assert result.code == 3
    assert f"{path}:3:11: not UTF-8 text" in result.err
    assert path.read_bytes() == before


def test_a_json_spec_can_be_edited(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"kind": "job", "metadata": {"name": "h"}, "spec": {"image": "x"}}\n')

    assert cli("set-priority", path, "high").code == 0

    assert yaml.safe_load(path.read_text())["spec"]["priority_class_name"] == "high"


# Running as an unprivileged user: the interpreter lives where only root may
# look, so the child imports mlctl as root, runs one dry edit to load every
# module the command needs, then drops to `nobody` and runs the real one.
_AS_NOBODY = """
import os, shutil, sys
from mlctl.cli import main
warm = sys.argv[1] + ".warm"
shutil.copy(sys.argv[1], warm)
main.invoke(["set-priority", warm, "high", "--dry-run"])
os.remove(warm)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
assert os.getuid() == 65534
sys.exit(main.invoke(["set-priority", sys.argv[1], "high"]))
"""


@pytest.fixture()
def shared_dir() -> Iterator[Path]:
    """A folder `nobody` may write in (pytest's own folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="mlctl-nobody-"))
    folder.chmod(0o777)
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    home = str(path.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MLCTL_"))}
    env.update(PYTHONPATH=str(REPO), HOME=home, MLCTL_STATE_DIR=home, MLCTL_CACHE_DIR=home)
    return subprocess.run(
        [sys.executable, "-c", _AS_NOBODY, str(path)],
        cwd=path.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_read_only_file_is_refused_for_an_unprivileged_user(shared_dir: Path) -> None:
    path = shared_dir / "c.yaml"
    path.write_text(SPEC)
    os.chown(path, NOBODY, NOBODY)
    path.chmod(0o444)

    result = as_nobody(path)

    assert result.returncode == 3, result.stderr
    assert "not writable" in result.stderr
    assert path.read_text() == SPEC
    assert path.stat().st_mode & 0o777 == 0o444


def test_a_file_owned_by_someone_else_keeps_its_owner(shared_dir: Path) -> None:
    path = shared_dir / "c.yaml"
    path.write_text(SPEC)
    path.chmod(0o666)  # root's file, writable by everyone

    result = as_nobody(path)

    assert result.returncode == 0, result.stderr
    assert path.stat().st_uid == 0
    assert "priority_class_name: high" in path.read_text()


def test_a_file_owned_by_someone_else_and_not_writable_is_refused(shared_dir: Path) -> None:
    path = shared_dir / "c.yaml"
    path.write_text(SPEC)
    path.chmod(0o644)

    result = as_nobody(path)

    assert result.returncode == 3, result.stderr
    assert path.read_text() == SPEC
    assert path.stat().st_uid == 0
