"""Functions exported by the real MLRun SDK validate, render and take every edit in mlctl.

The driver (``driver.py``, run in the MLRun venv) builds one function of
every kind with the SDK calls users make and exports it twice
(``fn.export()``, which strips what MLRun fills in at run time, and
``to_yaml()``, which keeps it). Rendered pods are compared with what MLRun's
own code computes for them; where mlctl decides differently on purpose the
test asserts mlctl's documented behaviour instead:

- a v3io access key (in env, in a flexVolume, in the function's
  credentials) reaches the pod from a Secret, never as plain text;
- preemption mode ``prevent`` keeps the user's own node-affinity terms (less
  the spot requirement) and AND-s the ``NotIn`` requirement into them, where
  MLRun replaces them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlctl.spec import quantity
from tests.mlrun import prepare
from tests.mlrun.conftest import Exported, Load
from tests.unit.support import Cli

NAMES = ["job", "mpijob", "dask", "nuclio", "serving", "application", "spark"]
EXTRA = ["spot", "mode-allow", "mode-constrain", "mode-none", "keyed"]
FILES = [f"{name}{flavour}.yaml" for name in NAMES + EXTRA for flavour in ("", ".full")]
NUCLIO = ("nuclio", "remote", "serving", "application")
V3IO_KEY = "V3IO_ACCESS_KEY"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def test_the_sdk_is_the_version_the_readme_names(mlrun_python: Path) -> None:
    assert mlrun_python.is_file()
    assert prepare.MLRUN_VERSION == "1.12.1"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"MLRun {prepare.MLRUN_VERSION}" in readme


def test_mlrun_built_every_function_offline(exported: Exported) -> None:
    assert exported.network == [], "MLRun tried to reach the network"
    assert sorted(p.name for p in exported.folder.glob("*.yaml")) == sorted(FILES)


@pytest.mark.parametrize("file", FILES)
def test_an_export_validates_strictly(exported: Exported, cli: Cli, mlrun_settings: dict[str, str], file: str) -> None:
    result = cli("validate", "--validate=strict", exported.folder / file)
    assert result.code == 0, result.err


@pytest.mark.parametrize("file", FILES)
def test_an_export_renders(exported: Exported, cli: Cli, mlrun_settings: dict[str, str], file: str) -> None:
    result = cli("render", exported.folder / file, "-o", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["items"]


def _placements(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every place a pod's scheduling and env is said: pod specs, Nuclio function specs, Spark drivers."""

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                yield {**node, "env": node["containers"][0].get("env", []), "res": node["containers"][0]}
                return
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    for obj in objects:
        if obj["kind"] == "NuclioFunction":
            yield {**obj["spec"], "res": obj["spec"]}
        elif obj["kind"] == "SparkApplication":
            driver = obj["spec"]["driver"]
            yield {**driver, "priorityClassName": driver.get("priorityClassName")}
        else:
            yield from walk(obj.get("spec"))


def _rendered(cli: Cli, path: Path, *args: str) -> list[dict[str, Any]]:
    result = cli("render", path, "-o", "json", *args)
    assert result.code == 0, result.err
    items: list[dict[str, Any]] = json.loads(result.out)["items"]
    return items


def _same_quantities(one: dict[str, Any] | None, other: dict[str, Any] | None) -> bool:
    def parsed(section: dict[str, Any] | None) -> dict[str, Decimal]:
        return {k: quantity.parse(v) for k, v in (section or {}).items()}

    return parsed(one) == parsed(other)


@pytest.mark.parametrize("name", ["job", "mpijob", "dask", "nuclio", "serving", "application", *EXTRA])
def test_rendered_pods_carry_what_mlrun_puts_there(
    exported: Exported, cli: Cli, mlrun_settings: dict[str, str], name: str
) -> None:
    expected = exported.functions[name]
    objects = _rendered(cli, exported.folder / f"{name}.full.yaml", "--show-secrets")
    secrets = {o["metadata"]["name"]: o.get("stringData", {}) for o in objects if o["kind"] == "Secret"}
    places = list(_placements(objects))
    assert places
    for place in places:
        assert place.get("nodeSelector", {}) == expected["node_selector"]
        assert place.get("tolerations", []) == expected["tolerations"]
        assert place.get("priorityClassName") == (expected["priority_class_name"] or None)
        if name == "spot":
            # mlctl keeps the user's zone requirement that MLRun throws away, and
            # still requires a non-spot node; no term demands the spot label
            for term in place["affinity"]["nodeAffinity"][REQUIRED]["nodeSelectorTerms"]:
                assert {"key": "node-lifecycle", "operator": "NotIn", "values": ["spot"]} in term["matchExpressions"]
                assert {"key": "zone", "operator": "In", "values": ["a"]} in term["matchExpressions"]
                assert {"key": "node-lifecycle", "operator": "In", "values": ["spot"]} not in term["matchExpressions"]
        else:
            assert place.get("affinity") == expected["affinity"]
        env = {e["name"]: e for e in place.get("env", [])}
        for entry in expected["env"] or []:
            given = env[entry["name"]]
            if entry["name"] == V3IO_KEY and entry.get("value"):
                ref = given["valueFrom"]["secretKeyRef"]
                assert secrets[ref["name"]][ref["key"]] == entry["value"]
            else:
                assert given.get("value", "") == str(entry.get("value") or "")
        resources = place["res"].get("resources", {})
        if expected["kind"] == "mpijob" and not resources:
            continue  # the launcher only starts the ranks: MLRun gives it no resources either
        if expected["kind"] != "dask" and expected["resources"]:
            assert _same_quantities(resources.get("requests"), expected["resources"].get("requests"))
            assert _same_quantities(resources.get("limits"), expected["resources"].get("limits"))


def test_the_functions_access_key_reaches_the_pod_from_a_secret(
    exported: Exported, cli: Cli, mlrun_settings: dict[str, str]
) -> None:
    objects = _rendered(cli, exported.folder / "keyed.full.yaml", "--show-secrets")
    (place,) = _placements(objects)
    env = {e["name"]: e for e in place["env"]}
    ref = env["MLRUN_AUTH_SESSION"]["valueFrom"]["secretKeyRef"]
    (secret,) = [o for o in objects if o["kind"] == "Secret"]
    assert secret["metadata"]["name"] == ref["name"]
    key = yaml.safe_load((exported.folder / "keyed.full.yaml").read_text())["metadata"]["credentials"]["access_key"]
    assert secret["stringData"][ref["key"]] == key
    assert key not in json.dumps([o for o in objects if o["kind"] != "Secret"])


def test_v3io_volumes_keep_their_options_and_take_the_key_from_a_secret(
    exported: Exported, cli: Cli, mlrun_settings: dict[str, str]
) -> None:
    objects = _rendered(cli, exported.folder / "job.full.yaml")
    (place,) = _placements(objects)
    volumes = {v["name"]: v for v in place["volumes"]}
    for volume in exported.functions["job"]["volumes"]:
        rendered = volumes[volume["name"]]
        if "flexVolume" in volume:
            options = {k: v for k, v in volume["flexVolume"]["options"].items() if k != "accessKey"}
            assert rendered["flexVolume"]["options"] == options
            assert rendered["flexVolume"]["secretRef"]["name"]
        else:
            assert rendered == {k: v for k, v in volume.items() if v is not None} | {
                key: {k: v for k, v in value.items() if v is not None}
                for key, value in volume.items()
                if isinstance(value, dict)
            }


def test_the_spark_driver_gets_mlruns_memory_and_placement(
    exported: Exported, cli: Cli, mlrun_settings: dict[str, str]
) -> None:
    objects = _rendered(cli, exported.folder / "spark.full.yaml")
    (app,) = [o for o in objects if o["kind"] == "SparkApplication"]
    driver, executor = app["spec"]["driver"], app["spec"]["executor"]
    assert (driver["memory"], executor["memory"]) == ("4g", "2g")  # JVM sizes, as Spark reads them
    assert driver["affinity"] == exported.functions["spark"]["affinity"]
    assert driver["priorityClassName"] == "default-priority"
    assert app["spec"]["mainApplicationFile"] == "local:///opt/spark/work-dir/spark.py"


def _edits(kind: str) -> list[list[str]]:
    edits = [
        ["set-env", "EDITED=1", "MY_ENV=changed"],
        ["set-preemption", "allow"],
        ["set-priority", "high"],
        ["set-node-selection", "--node-selector", "team=ml"],
        ["mount", "pvc", "extra-claim", "/mnt/extra", "--volume-name", "extra"],
    ]
    if kind == "spark":  # Spark's resources are per side: the driver's and the executors'
        edits.append(["set-resources", "--driver", "--executor", "--requests", "cpu=1,memory=3g", "--limits", "cpu=2"])
    elif kind != "dask":  # Dask's are per role (scheduler, workers)
        edits.append(["set-resources", "--requests", "cpu=1,memory=1Gi", "--limits", "cpu=2,memory=2Gi"])
    if kind in ("job", "mpijob", "spark"):
        edits.append(["set-thresholds", "running=2h", "pending_not_scheduled=10m"])
    if kind in ("mpijob", "spark"):
        edits.append(["set-replicas", "2"])
    if kind in ("dask", *NUCLIO):
        edits.append(["set-replicas", "--min", "1", "--max", "3"])
    if kind in NUCLIO:
        edits.append(["set-http", "--workers", "2", "--worker-timeout", "10"])
        edits.append(["add-stream-trigger", "v3io:///projects/demo/edited", "--name", "edited"])
    return edits


@pytest.mark.parametrize("file", [f"{name}{flavour}.yaml" for name in NAMES for flavour in ("", ".full")])
def test_every_editing_command_takes_an_export_and_mlrun_reads_the_result(
    exported: Exported, cli: Cli, mlrun_settings: dict[str, str], mlrun_load: Load, tmp_path: Path, file: str
) -> None:
    path = tmp_path / file
    shutil.copy(exported.folder / file, path)
    kind = yaml.safe_load(path.read_text())["kind"]
    for edit in _edits(kind):
        result = cli(edit[0], path, *edit[1:])
        assert result.code == 0, f"{' '.join(edit)}: {result.err}"
    assert cli("render", path, "-o", "json").code == 0

    ours = yaml.safe_load(path.read_text())
    theirs = mlrun_load(path)
    assert "error" not in theirs, theirs.get("error")
    assert theirs["network"] == []
    assert theirs["kind"] == ours["kind"]
    spec, their_spec = ours["spec"], theirs["spec"]
    for key in ("env", "preemption_mode", "priority_class_name", "node_selector", "volumes", "volume_mounts"):
        assert their_spec.get(key) == spec.get(key), key
    assert _same_resources(their_spec.get("resources"), spec.get("resources"))
    assert their_spec.get("state_thresholds", {}).get("executing") == (
        "2h" if kind in ("job", "mpijob", "spark") else their_spec.get("state_thresholds", {}).get("executing")
    )
    if kind in ("job", "mpijob", "spark"):
        assert their_spec["state_thresholds"]["pending_not_scheduled"] == "10m"
    if kind == "spark":
        for side in ("driver_resources", "executor_resources"):
            # JVM sizes, not Kubernetes quantities: compared as written
            assert _as_text(their_spec[side]) == _as_text(spec[side]), side
            assert spec[side]["requests"]["memory"] == "3g", side
    for key in ("min_replicas", "max_replicas", "replicas"):
        if key in spec:
            assert their_spec.get(key) == spec[key], key
    if kind in NUCLIO:
        http = their_spec["config"]["spec.triggers.http"]
        assert (http["maxWorkers"], http["workerAvailabilityTimeoutMilliseconds"]) == (2, 10000)
        assert their_spec["config"]["spec.triggers.edited"]["kind"] == "v3ioStream"


def _as_text(resources: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {section: {k: str(v) for k, v in values.items()} for section, values in resources.items()}


def _same_resources(one: dict[str, Any] | None, other: dict[str, Any] | None) -> bool:
    one, other = one or {}, other or {}
    return all(_same_quantities(one.get(s), other.get(s)) for s in ("requests", "limits"))
