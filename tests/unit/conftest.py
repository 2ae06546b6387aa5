"""The unit tier: no cluster, no network, no settings from the machine.

Every test here runs with

* no connection to an API server: opening mlctl's transport, loading the
  official client's kubeconfig or in-cluster config, or building its
  ``ApiClient``, raises (reading a kubeconfig file is allowed: it is pure).
  A unit test that needs the cluster layer passes a fake instead;
* no ``MLCTL_*`` / ``MLRUN_*`` / ``KUBECONFIG`` variables from the caller's
  shell, HOME and the XDG folders in a temporary folder, ``MLCTL_STATE_DIR``
  and ``MLCTL_CACHE_DIR`` there too, and the current directory a fresh
  empty folder (so no ``.mlctl.yaml`` of the machine is found). Tests name
  repository files by absolute path (``support.REPO``).

Helpers shared by the test modules are fixtures: ``spec_file`` writes a spec,
``cli`` runs a command in-process and returns its exit code and output.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.unit.support import Cli, Result, SpecFile

_OFF_LIMITS = "unit tests run without a cluster: pass a fake client instead (tests/unit/conftest.py)"


class ClusterAccessInUnitTest(RuntimeError):
    pass


def _refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise ClusterAccessInUnitTest(_OFF_LIMITS)


@pytest.fixture(autouse=True)
def _no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    import kubernetes.client
    import kubernetes.config
    from kubernetes.config import incluster_config, kube_config

    from mlctl.cluster import transport

    for module, name in (
        (transport, "open_target"),
        (transport, "official"),
        (kubernetes.config, "load_kube_config"),
        (kubernetes.config, "load_incluster_config"),
        (kubernetes.config, "new_client_from_config"),
        (kube_config, "load_kube_config"),
        (kube_config, "_get_kube_config_loader"),
        (kube_config, "new_client_from_config"),
        (incluster_config, "load_incluster_config"),
    ):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, _refuse)
    monkeypatch.setattr(kubernetes.client.ApiClient, "__init__", _refuse)


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(("MLCTL_", "MLRUN_")) or name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    for name, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
    ):
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("MLCTL_STATE_DIR", str(home / "state"))
    monkeypatch.setenv("MLCTL_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("KUBECONFIG", str(home / "no-kubeconfig"))
    work = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(work)
    yield work


@pytest.fixture()
def spec_file(tmp_path: Path) -> SpecFile:
    """Write a spec (dedented) and return its path: ``spec_file(text, name="f.yaml")``."""

    def write(text: str, name: str = "function.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture()
def cli(capfd: pytest.CaptureFixture[str]) -> Cli:
    """Run ``mlctl ARGS`` in-process; the exit code and what it printed on stdout and stderr."""
    from mlctl.cli import main

    def run(*args: str | Path) -> Result:
        capfd.readouterr()  # forget what earlier steps printed
        code = main.invoke([str(a) for a in args])
        captured = capfd.readouterr()
        return Result(int(code), captured.out, captured.err)

    return run
