"""Helpers of the mlctl integration tests: running mlctl, writing specs, reading the cluster.

The fixtures built on these are in ``tests/integration/fixtures.py``.

* ``Mlctl``: one mlctl command in this process; ``Process``/``Spawner``: mlctl
  as a child process (for commands that run beside the test).
* ``job_spec``: writes an MLRun ``job`` function spec. Pod behaviour on the
  fake nodes comes from the spec's own ``metadata.labels`` and
  ``metadata.annotations``, which mlctl carries onto the run's pods
  (``mlctl.test/behavior``, ``mlctl.test/run-duration``).
* ``Kube``: a few reads through the official client, to check what a user
  would check with kubectl.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client

from tests.cluster.testbed import NODES

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
SPOT_NODES = frozenset(n.name for n in NODES if n.pool == "spot")
SPOT_PROFILE = {
    "MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR": '{"node-lifecycle":"spot"}',
    "MLCTL_PREEMPTIBLE_NODES__TOLERATIONS": (
        '[{"key":"node-lifecycle","operator":"Equal","value":"spot","effect":"NoSchedule"}]'
    ),
}
SPOT_TOLERATION = {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
ABORT_TEXT = re.compile(
    r"Run aborted due to exceeded state threshold: (?P<state>\w+) "
    r"\(waited (?P<waited>[\d.hms]+), limit (?P<limit>[\d.hms]+)\)"
)
RUN_TIMEOUT = "90s"
HANDLER = 'def handler(context=None, x=1):\n    return {"y": x + 1}\n'


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 30.0, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def unreachable_kubeconfig(kubeconfig: Path, folder: Path) -> Path:
    """A copy of ``kubeconfig`` whose servers are a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    moved = folder / "unreachable.kubeconfig"
    moved.write_text(yaml.safe_dump(config))
    return moved


def seconds(text: str) -> float:
    """``1m5s`` -> 65, ``5.1s`` -> 5.1 (the durations mlctl prints)."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([dhms])", text))


# --------------------------------------------------------------------------- specs


def job_spec(
    folder: Path,
    name: str = "trainer",
    *,
    code: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Path:
    """Write a ``job`` spec; with ``code``, the handler travels embedded (``build.functionSourceCode``)."""
    body: dict[str, Any] = {"image": "python:3.11-slim"}
    if code is not None:
        body["default_handler"] = "handler"
        body["build"] = {
            "functionSourceCode": base64.b64encode(code.encode()).decode(),
            "origin_filename": f"{name}.py",
        }
    else:
        body["command"] = "python -c \"print('done')\""
    body.update(spec)
    metadata: dict[str, Any] = {"name": name, "project": "itest"}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"kind": "job", "metadata": metadata, "spec": body}, sort_keys=False))
    return path


FAILING = "def handler(context=None, name='zed'):\n    raise ValueError('cannot greet ' + name)\n"


def failing_spec(folder: Path, **annotations: str) -> Path:
    """A ``job`` whose handler raises ``ValueError: cannot greet zed``; its pods fail after a second on the fake nodes.

    ``annotations`` go on the pods too (``mlctl.test/termination-message``: what the bootstrap would report).
    """
    return job_spec(
        folder,
        "greeter",
        code=FAILING,
        labels={"mlctl.test/behavior": "fail"},
        annotations={"mlctl.test/run-duration": "1s", **annotations},
    )


def long_running(duration: str = "10m") -> dict[str, str]:
    """Annotations that keep a run's pod Running for ``duration`` on the fake nodes."""
    return {"mlctl.test/run-duration": duration}


# --------------------------------------------------------------------------- running mlctl


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:  # shown by pytest when an assertion on a Result fails
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def clean_environ(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for key in list(os.environ):
        if key.startswith(("MLCTL_", "MLRUN_")) or key in ("KUBECONFIG", "NO_COLOR"):
            monkeypatch.delenv(key)
    # nothing of the user's: no config file, and the test's own local run store and caches
    for name, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state")):
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("MLCTL_STATE_DIR", str(home / "state" / "mlctl"))
    monkeypatch.setenv("MLCTL_CACHE_DIR", str(home / "cache" / "mlctl"))
    monkeypatch.setenv("CI", "1")  # plain output


class Mlctl:
    """``mlctl(*args)`` runs one command in-process, as the admin, in the test's namespace."""

    def __init__(self, capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str) -> None:
        self.capsys = capsys
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    def argv(self, args: tuple[str, ...], kubeconfig: Path | None, namespace: str | None) -> list[str]:
        extra = ["--kubeconfig", str(kubeconfig or self.kubeconfig), *(["-n", namespace] if namespace else [])]
        if args[:1] == ("run",) and not {"--timeout", "--detach", "-d"} & set(args):
            extra += ["--timeout", RUN_TIMEOUT]  # a run that never ends fails its test instead of hanging the suite
        return [*args, *extra]

    def __call__(self, *args: str, kubeconfig: Path | None = None, namespace: str | None = "") -> Result:
        return self.offline(*self.argv(args, kubeconfig, self.namespace if namespace == "" else namespace))

    def offline(self, *args: str) -> Result:
        """A command that takes no cluster options (``render``, ``validate``), exactly as given."""
        from mlctl.cli import main

        self.capsys.readouterr()
        code = main.invoke(list(args))
        out, err = self.capsys.readouterr()
        return Result(int(code), out, err)


class Process:
    """A child ``mlctl`` process; its output goes to files the test can read while it runs."""

    def __init__(self, argv: list[str], folder: Path, label: str) -> None:
        self.argv = argv
        self.stdout_path = folder / f"{label}.stdout"
        self.stderr_path = folder / f"{label}.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "mlctl", *argv], stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=folder
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait(self, timeout: float = 60.0) -> Result:
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            pytest.fail(f"mlctl {' '.join(self.argv)} still running after {timeout:.0f}s\n{self.stderr}")
        return Result(code, self.stdout, self.stderr)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Spawner:
    def __init__(self, folder: Path, kubeconfig: Path, namespace: str) -> None:
        self.folder = folder
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.started: list[Process] = []

    def __call__(self, *args: str, label: str = "", namespace: str | None = "") -> Process:
        ns = self.namespace if namespace == "" else namespace
        argv = [*args, "--kubeconfig", str(self.kubeconfig), *(["-n", ns] if ns else [])]
        process = Process(argv, self.folder, label or f"mlctl-{len(self.started)}")
        self.started.append(process)
        return process


# --------------------------------------------------------------------------- reading the cluster


class Kube:
    """Reads (and a few writes) as the admin, for checks a user would make with kubectl."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def pods(self, run_id: str = "") -> list[Any]:
        selector = f"mlctl.io/run-id={run_id}" if run_id else ""
        return list(self.core.list_namespaced_pod(self.namespace, label_selector=selector).items)

    def pod_of(self, run_id: str, timeout: float = 30.0) -> Any:
        return wait_for(lambda: next(iter(self.pods(run_id)), None), f"the pod of run {run_id}", timeout)

    def running_pod(self, run_id: str, timeout: float = 30.0) -> Any:
        def running() -> Any:
            return next((p for p in self.pods(run_id) if p.status.phase == "Running"), None)

        return wait_for(running, f"the pod of run {run_id} to run", timeout)

    def jobs(self) -> list[Any]:
        return list(self.batch.list_namespaced_job(self.namespace).items)

    def job_of(self, run_id: str) -> Any:
        jobs = self.batch.list_namespaced_job(self.namespace, label_selector=f"mlctl.io/run-id={run_id}").items
        return jobs[0] if jobs else None

    def written(self) -> list[str]:
        """Every object in the namespace that someone wrote (not what Kubernetes creates itself)."""
        found = []
        for kind, items in (
            ("configmap", self.core.list_namespaced_config_map(self.namespace).items),
            ("secret", self.core.list_namespaced_secret(self.namespace).items),
            ("service", self.core.list_namespaced_service(self.namespace).items),
            ("serviceaccount", self.core.list_namespaced_service_account(self.namespace).items),
            ("pod", self.core.list_namespaced_pod(self.namespace).items),
            ("job", self.batch.list_namespaced_job(self.namespace).items),
            ("deployment", self.apps.list_namespaced_deployment(self.namespace).items),
            ("role", self.rbac.list_namespaced_role(self.namespace).items),
        ):
            for item in items:
                name = item.metadata.name
                if (kind, name) in (("configmap", "kube-root-ca.crt"), ("serviceaccount", "default")):
                    continue
                found.append(f"{kind}/{name}")
        for group, version, plural in (
            ("kubeflow.org", "v2beta1", "mpijobs"),
            ("sparkoperator.k8s.io", "v1beta2", "sparkapplications"),
            ("kubernetes.dask.org", "v1", "daskclusters"),
            ("nuclio.io", "v1beta1", "nucliofunctions"),
        ):
            listing = self.custom.list_namespaced_custom_object(group, version, self.namespace, plural)
            found += [f"{plural}/{item['metadata']['name']}" for item in listing.get("items", [])]
        return found


def run_id_of(result: Result) -> str:
    """The run id a ``run`` printed (``run <id> started`` on stderr, or the id alone with --detach)."""
    match = re.search(r"run (\w+) started", result.stderr)
    if match:
        return match.group(1)
    return result.stdout.strip().splitlines()[-1]
