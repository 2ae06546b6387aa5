"""Fixtures of the mlctl integration tests; test modules load them with ``pytest_plugins``.

* ``isolated``: a clean environment for mlctl (no ``MLCTL_``/``MLRUN_``
  settings but the ones the test sets, no user or project config file) and
  the test's tmp_path as the working directory. ``mlctl`` and ``spawn`` use it.
* ``mlctl``: runs one mlctl command in this process, as the admin, in the
  test's namespace; returns exit code, stdout and stderr.
* ``spawn``: starts ``python -m mlctl ...`` as a child process (an attached
  ``run``, ``monitor``); children still running at the end are killed.
* ``spot_profile``: the testbed's preemptible-node profile (label
  ``node-lifecycle: spot``, taint ``node-lifecycle=spot:NoSchedule``) set
  through mlctl's environment variables.
* ``kube``: reads through the official client, for what a user would check
  with kubectl.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import support


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment and working directory for every test (no config files, no settings)."""
    home = tmp_path / "home"
    home.mkdir()
    support.clean_environ(monkeypatch, home)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def spot_profile(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in support.SPOT_PROFILE.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def mlctl(isolated: Path, capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str) -> support.Mlctl:
    return support.Mlctl(capsys, kubeconfig, namespace)


@pytest.fixture
def spawn(isolated: Path, tmp_path: Path, kubeconfig: Path, namespace: str) -> Iterator[support.Spawner]:
    spawner = support.Spawner(tmp_path, kubeconfig, namespace)
    yield spawner
    for process in spawner.started:
        process.kill()


@pytest.fixture
def kube(api_client: Any, namespace: str) -> support.Kube:
    return support.Kube(api_client, namespace)
