"""The MLRun tier: functions built and read by the real MLRun SDK, checked against mlctl.

The SDK lives in its own cached venv (``prepare.py``; built on first use,
which takes a few minutes, then reused). A venv that cannot be built fails
these tests with the reason; they are never skipped. MLRun runs offline (no
``MLRUN_DBPATH``) and the driver refuses every network connection, so all
traffic stays on this machine.

mlctl itself runs in-process with the unit tier's isolation: no cluster, no
settings from the caller's machine.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.mlrun import prepare
from tests.unit.conftest import _isolated_settings, _no_cluster, cli, spec_file

__all__ = ["_isolated_settings", "_no_cluster", "cli", "spec_file"]
DRIVER = Path(__file__).with_name("driver.py")


@dataclass(frozen=True)
class Exported:
    """What the driver wrote: the export folder, MLRun's settings and its expectations per function."""

    folder: Path
    settings: dict[str, str]
    functions: dict[str, dict[str, Any]]
    network: list[str]


def _sdk_env() -> dict[str, str]:
    """The caller's environment without MLRun or mlctl settings (the driver sets its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLRUN_", "MLCTL_", "PYTHON"))}
    env["MLRUN_DBPATH"] = ""
    return env


def run_sdk(python: Path, *args: str) -> str:
    done = subprocess.run(
        [str(python), str(DRIVER), *args], capture_output=True, text=True, env=_sdk_env(), check=False, timeout=600
    )
    if done.returncode != 0:
        pytest.fail(f"the MLRun driver failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


_BUILD_FAILURE: list[str] = []  # said once; pytest sets a failed session fixture up again for each test


@pytest.fixture(scope="session")
def mlrun_python() -> Path:
    if _BUILD_FAILURE:
        pytest.fail(_BUILD_FAILURE[0])
    try:
        return prepare.ensure()
    except (prepare.PrepareError, OSError) as error:
        _BUILD_FAILURE.append(f"cannot build the MLRun {prepare.MLRUN_VERSION} venv: {error}")
        pytest.fail(_BUILD_FAILURE[0])


@pytest.fixture(scope="session")
def exported(mlrun_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    folder = tmp_path_factory.mktemp("mlrun-exports")
    run_sdk(mlrun_python, "export", str(folder))
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    network = json.loads((folder / "network.json").read_text(encoding="utf-8"))
    return Exported(folder, expected["settings"], expected["functions"], network)


Load = Callable[[Path], dict[str, Any]]


@pytest.fixture(scope="session")
def mlrun_load(mlrun_python: Path) -> Iterator[Load]:
    """``load(path)``: what ``mlrun.import_function`` reads from a file (one SDK process for the session)."""
    process = subprocess.Popen(
        [str(mlrun_python), str(DRIVER), "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_sdk_env(),
    )
    assert process.stdin is not None and process.stdout is not None

    def load(path: Path) -> dict[str, Any]:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(f"{path}\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the MLRun driver ended ({process.poll()}) while loading {path}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    yield load
    process.stdin.close()
    process.wait(timeout=60)


@pytest.fixture()
def mlrun_settings(exported: Exported, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The settings MLRun built the functions with, given to mlctl too (the MLRUN_ spellings)."""
    for name, value in exported.settings.items():
        monkeypatch.setenv(name, value)
    return exported.settings
