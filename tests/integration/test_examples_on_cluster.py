"""Every example in ``specs-examples/`` works on a cluster, as its header says to use it.

The folder is walked: a new example is tested without touching this file.
An example's header documents its command (``mlctl run specs-examples/x.yaml
--env-file ... -p ...``); the test runs that command on the testbed (a
``--local`` in it is dropped: the point here is the cluster). Kinds that
run here (job) run to completion; the other kinds deploy, after a
server-side dry run, as their operators' CRDs are installed (their operators
are not).

An example may rely on what its header says must exist: PriorityClasses,
PersistentVolumeClaims, ConfigMaps, Secrets, node labels. The test provides
them as the example's user would, for the duration of the test: it creates
what the rendered manifests refer to and is missing, and labels the testbed
nodes whose pool (``mlctl.test/pool``) the example's node selector names.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mlctl.cluster import apply
from tests.integration.support import REPO, Kube, Mlctl, wait_for

pytest_plugins = ["tests.integration.fixtures"]

EXAMPLES_DIR = REPO / "specs-examples"
EXAMPLES = sorted(p for p in EXAMPLES_DIR.rglob("*") if p.suffix in (".yaml", ".yml"))
RUN_KINDS = ("job",)  # mpijob runs have their own tests (test_mpi_operator.py); spark has no operator here
POOL_LABEL = "mlctl.test/pool"
# options of `mlctl run` that `mlctl deploy` takes too
DEPLOY_OPTIONS = ("--env-file", "--env", "-e", "--set", "--image", "--requests", "--limits", "--gpu-type",
                  "--preemption-mode", "--priority-class", "--node-selector", "--engine")  # fmt: skip


def documented_arguments(example: Path, command: str) -> list[str]:
    """The arguments after the file in the header's ``mlctl <command> <this file> ...`` line."""
    header = [line.lstrip("# ") for line in example.read_text().splitlines() if line.startswith("#")]
    for line in header:
        words = shlex.split(line) if line.startswith(f"mlctl {command} ") else []
        if len(words) > 2 and Path(words[2]).name == example.name:
            args = [w for w in words[3:] if w != "--local"]
            # paths in the header are relative to the repository
            return [str(REPO / w) if (REPO / w).is_file() else w for w in args]
    return []


def deploy_arguments(run_args: list[str]) -> list[str]:
    out: list[str] = []
    pending = False
    for word in run_args:
        if pending:
            out.append(word)
            pending = False
        elif word in DEPLOY_OPTIONS:
            out.append(word)
            pending = True
        elif word.split("=", 1)[0] in DEPLOY_OPTIONS:
            out.append(word)
    return out


class Prerequisites:
    """What an example's manifests refer to, created when missing and removed afterwards."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.core = client.CoreV1Api(api)
        self.undo: list[Any] = []

    def provide(self, objects: list[dict[str, Any]]) -> None:
        refs = apply.references(objects)
        for name in sorted(refs["PriorityClass"]):
            self._priority_class(name)
        for name in sorted(refs["ConfigMap"]):
            self._create(lambda n: self.core.create_namespaced_config_map(self.namespace, n), name, keys(objects, name))
        for name in sorted(refs["Secret"]):
            self._create(lambda n: self.core.create_namespaced_secret(self.namespace, n), name, keys(objects, name))
        for name in sorted(refs["ServiceAccount"]):
            with contextlib.suppress(ApiException):
                self.core.create_namespaced_service_account(self.namespace, {"metadata": {"name": name}})
        for name in sorted(refs["PersistentVolumeClaim"]):
            self._claim(name)
        for selector in sorted(refs["nodeSelector"]):
            self._node_labels(dict(pair.split("=", 1) for pair in selector.split(",")))

    def _priority_class(self, name: str) -> None:
        scheduling = client.SchedulingV1Api(self.api)
        try:
            scheduling.create_priority_class({"metadata": {"name": name}, "value": 5000})
        except ApiException as e:
            if e.status != 409:  # already there: leave it alone
                raise
            return
        self.undo.append(lambda: scheduling.delete_priority_class(name))

    def _create(self, create: Any, name: str, data: dict[str, str]) -> None:
        with contextlib.suppress(ApiException):
            create({"metadata": {"name": name}, "data": data})

    def _claim(self, name: str) -> None:
        volume = f"{self.namespace}-{name}"[:63]
        self.core.create_persistent_volume(
            {
                "metadata": {"name": volume},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": f"/tmp/{volume}"},
                    "claimRef": {"namespace": self.namespace, "name": name},
                },
            }
        )
        self.undo.append(lambda: self.core.delete_persistent_volume(volume))
        self.core.create_namespaced_persistent_volume_claim(
            self.namespace,
            {
                "metadata": {"name": name},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )

        def bound() -> bool:
            return self.core.read_namespaced_persistent_volume_claim(name, self.namespace).status.phase == "Bound"

        wait_for(bound, f"PersistentVolumeClaim {name} to be bound", timeout=60, every=0.5)

    def _node_labels(self, selector: dict[str, str]) -> None:
        nodes = self.core.list_node().items
        if any(all((n.metadata.labels or {}).get(k) == v for k, v in selector.items()) for n in nodes):
            return
        pools = set(selector.values())
        for node in nodes:
            if (node.metadata.labels or {}).get(POOL_LABEL) in pools:
                missing = {k: v for k, v in selector.items() if k not in (node.metadata.labels or {})}
                self.core.patch_node(node.metadata.name, {"metadata": {"labels": missing}})
                self.undo.append(
                    lambda n=node.metadata.name, m=missing: self.core.patch_node(
                        n, {"metadata": {"labels": dict.fromkeys(m)}}
                    )
                )

    def remove(self) -> None:
        for step in reversed(self.undo):
            with contextlib.suppress(ApiException):
                step()


def keys(objects: Any, name: str) -> dict[str, str]:
    """Placeholder values for the keys that env ``valueFrom`` reads from ConfigMap/Secret ``name``."""
    found: dict[str, str] = {}
    if isinstance(objects, dict):
        for key, value in objects.items():
            if key in ("secretKeyRef", "configMapKeyRef") and value.get("name") == name and value.get("key"):
                found[value["key"]] = "placeholder"
            else:
                found |= keys(value, name)
    elif isinstance(objects, list):
        for item in objects:
            found |= keys(item, name)
    return found


@pytest.fixture
def prerequisites(api_client: Any, namespace: str) -> Iterator[Prerequisites]:
    provided = Prerequisites(api_client, namespace)
    yield provided
    provided.remove()


def test_the_examples_folder_is_not_empty() -> None:
    assert EXAMPLES, f"no examples in {EXAMPLES_DIR}"


@pytest.mark.usefixtures("spot_profile")
@pytest.mark.parametrize("example", EXAMPLES, ids=[str(p.relative_to(EXAMPLES_DIR)) for p in EXAMPLES])
def test_every_example_runs_or_deploys_as_documented(
    mlctl: Mlctl, kube: Kube, prerequisites: Prerequisites, example: Path, namespace: str
) -> None:
    kind = str((yaml.safe_load(example.read_text()) or {}).get("kind", ""))
    run_args = documented_arguments(example, "run")
    options = deploy_arguments(run_args) or documented_arguments(example, "deploy")
    rendered = mlctl.offline("render", str(example), "-n", namespace, "-o", "json", *options)
    assert rendered.code == 0, rendered
    prerequisites.provide(rendered.json()["items"])

    checked = mlctl("deploy", str(example), "--dry-run=server", *options)
    deployed = mlctl("deploy", str(example), *options)

    assert checked.code == 0, checked
    assert deployed.code == 0, deployed
    if kind in RUN_KINDS:
        ran = mlctl("run", str(example), *run_args, "-o", "json", "--timeout", "2m")
        assert ran.code == 0, ran
        record = ran.json()
        assert record["state"] == "completed", record
        assert kube.pod_of(record["run_id"]).status.phase == "Succeeded"
