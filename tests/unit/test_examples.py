"""Every example users copy validates and renders to its golden file.

Each ``specs-examples/<name>.yaml`` is rendered as ``mlctl render`` prints it,
with run id ``0000test`` and a fixed config (a preemptible-node profile
``node-lifecycle: spot`` with its NoSchedule toleration), and compared with
``tests/golden/<name>.yaml``. After an intended change, rewrite the goldens:

    MLCTL_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_examples.py

and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.support import EXAMPLES, REPO, SPOT_ENV, Cli, assert_valid_manifest

GOLDEN = REPO / "tests" / "golden"
# read at import: the unit tier's fixtures clear MLCTL_* variables before each test
UPDATE = os.environ.get("MLCTL_UPDATE_GOLDEN") == "1"
RUN_ID = "0000test"
MODELINE = "# yaml-language-server: $schema=../schemas/function.schema.json"
SPECS = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture()
def fixed_config(tmp_path: Path) -> Path:
    path = tmp_path / "examples-config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "preemptible_nodes": {
                    "node_selector": json.loads(SPOT_ENV["MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR"]),
                    "tolerations": json.loads(SPOT_ENV["MLCTL_PREEMPTIBLE_NODES__TOLERATIONS"]),
                }
            }
        ),
        encoding="utf-8",
    )
    return path


def test_the_core_examples_are_there() -> None:
    assert {"hello.yaml", "gpu-training.yaml", "cpu-prevent.yaml"} <= {p.name for p in SPECS}


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_example_opens_with_the_schema_modeline_and_says_what_it_shows(spec: Path) -> None:
    lines = spec.read_text(encoding="utf-8").splitlines()

    assert lines[0] == MODELINE
    header = [line for line in lines[1:] if line.startswith("#")]
    assert sum(len(line) > 10 for line in header) >= 2, "a header comment says what the example shows"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_example_validates(spec: Path, cli: Cli, fixed_config: Path) -> None:
    result = cli("--config", fixed_config, "validate", spec)

    assert result.code == 0, result.err


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_example_renders_to_its_golden_file(spec: Path, cli: Cli, fixed_config: Path) -> None:
    result = cli("--config", fixed_config, "render", spec, "--run-id", RUN_ID)
    assert result.code == 0, result.err
    golden = GOLDEN / spec.name

    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(result.out, encoding="utf-8")
    if not golden.exists():
        pytest.fail(
            f"{golden.relative_to(REPO)} is missing; create it with "
            f"MLCTL_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_examples.py and review it"
        )

    assert result.out == golden.read_text(encoding="utf-8"), (
        f"{spec.name} renders differently from {golden.relative_to(REPO)}; if the change is intended, "
        "run MLCTL_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_examples.py and review the diff"
    )


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_example_golden_holds_valid_kubernetes_manifests(spec: Path) -> None:
    golden = GOLDEN / spec.name
    if not golden.exists():
        pytest.fail(f"{golden.relative_to(REPO)} is missing (see test_example_renders_to_its_golden_file)")

    for document in yaml.safe_load_all(golden.read_text(encoding="utf-8")):
        if document.get("apiVersion") in (
            "v1",
            "batch/v1",
            "apps/v1",
            "rbac.authorization.k8s.io/v1",
            "autoscaling/v2",
            "networking.k8s.io/v1",
        ):
            assert_valid_manifest(document)


def test_every_golden_belongs_to_an_example() -> None:
    assert {p.name for p in GOLDEN.glob("*.yaml")} <= {p.name for p in SPECS}


# --- what each core example shows ----------------------------------------------------------


def rendered(cli: Cli, config: Path, spec: str, *extra: str) -> list[dict[str, Any]]:
    result = cli("--config", config, "render", EXAMPLES / spec, "--run-id", RUN_ID, "-o", "json", *extra)
    assert result.code == 0, result.err
    items: list[dict[str, Any]] = json.loads(result.out)["items"]
    return items


def pod_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (job,) = [o for o in objects if o["kind"] == "Job"]
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def test_hello_runs_its_handler_through_the_bootstrap(cli: Cli, fixed_config: Path) -> None:
    pod = pod_of(rendered(cli, fixed_config, "hello.yaml", "-p", "name=Ada"))
    (container,) = pod["containers"]
    run = json.loads(next(e["value"] for e in container["env"] if e["name"] == "MLCTL_RUN"))

    assert container["command"] == ["python", "/opt/mlctl/bootstrap.py"]
    assert (run["handler"], run["params"]) == ("hello", {"name": "Ada"})


def test_gpu_training_with_its_env_file(cli: Cli, fixed_config: Path) -> None:
    pod = pod_of(rendered(cli, fixed_config, "gpu-training.yaml", "--env-file", str(EXAMPLES / "training.env")))
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}

    assert env["CHECKPOINT_DIR"] == "/data/checkpoints"
    assert env["TRAINING_RUN_NAME"] == "nightly run"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"} in pod["tolerations"]
    assert {v["name"] for v in pod["volumes"]} >= {"training-data", "training-settings"}


def test_cpu_prevent_keeps_off_spot_nodes_with_its_priority(cli: Cli, fixed_config: Path) -> None:
    pod = pod_of(rendered(cli, fixed_config, "cpu-prevent.yaml"))

    assert pod["priorityClassName"] == "batch-high"
    assert pod["nodeSelector"] == {"node-pool": "cpu"}
    assert "tolerations" not in pod
