"""Editing commands: each changes only what it must, keeps the rest of the file, writes atomically."""

from __future__ import annotations

import base64
import difflib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.support import Cli, SpecFile

SPEC = """\
# Training function, exported from MLRun.
kind: job
metadata:
  name: trainer   # keep this comment
  tag: ''
  project: "demo"
spec:
  image: "python:3.11"
  # environment
  env:
  - name: A
    value: '1'
  - name: B
    value: "2"
  resources:
    requests:
      memory: 1G
      cpu: 500m
  state_thresholds:
    executing: 2h
  description: a long line that goes on and on and on and on and on and on and on and on and on, past eighty
  default_handler: train
verbose: false
"""


def data(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines between two texts."""
    removed, added = [], []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


@pytest.fixture()
def spec(spec_file: SpecFile) -> Path:
    return spec_file(SPEC, "trainer.yaml")


def env_of(path: Path) -> list[tuple[str, Any]]:
    return [(e["name"], e.get("value", e.get("valueFrom"))) for e in data(path)["spec"]["env"]]


# --- set-env -------------------------------------------------------------------------------


def test_set_env_replaces_in_place_appends_new_and_touches_nothing_else(spec: Path, cli: Cli) -> None:
    result = cli("set-env", spec, "A=3", "C=4")

    assert result.code == 0, result.err
    assert env_of(spec) == [("A", "3"), ("B", "2"), ("C", "4")]
    removed, added = changed_lines(SPEC, spec.read_text())
    assert removed == ["    value: '1'"]
    assert added == ["    value: '3'", "  - name: C", "    value: '4'"]
    assert result.out == ""
    assert result.err == f"{spec}: updated\n"


def test_set_env_from_an_env_file(spec: Path, cli: Cli, tmp_path: Path) -> None:
    env_file = tmp_path / "vars.env"
    env_file.write_text("# settings\nexport B=from-file\nD='x y'\n", encoding="utf-8")

    assert cli("set-env", spec, "--file", env_file).code == 0

    assert env_of(spec) == [("A", "1"), ("B", "from-file"), ("D", "x y")]


def test_set_env_from_a_secret_defaults_the_key_to_the_name(spec: Path, cli: Cli) -> None:
    assert cli("set-env", spec, "--from-secret", "TOKEN=creds:api-token", "--from-secret", "PASSWORD=creds").code == 0

    assert env_of(spec)[2:] == [
        ("TOKEN", {"secretKeyRef": {"name": "creds", "key": "api-token"}}),
        ("PASSWORD", {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}),
    ]


def test_set_env_bare_name_takes_the_callers_value(spec: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGION", "eu-west-1")

    assert cli("set-env", spec, "REGION").code == 0

    assert ("REGION", "eu-west-1") in env_of(spec)


def test_set_env_with_nothing_to_set_is_a_usage_error(spec: Path, cli: Cli) -> None:
    result = cli("set-env", spec)

    assert result.code == 2
    assert spec.read_text() == SPEC


def test_set_env_with_a_bad_env_file_names_the_line_and_changes_nothing(spec: Path, cli: Cli, tmp_path: Path) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text("A=1\nnot a line\n", encoding="utf-8")

    result = cli("set-env", spec, "--file", env_file)

    assert result.code == 3
    assert f"{env_file}:2:1: cannot parse" in result.err
    assert spec.read_text() == SPEC


# --- set-thresholds ----------------------------------------------------------------------------


def test_set_thresholds_keeps_the_files_executing_spelling(spec: Path, cli: Cli) -> None:
    assert cli("set-thresholds", spec, "running=3h", "pending_scheduled=30s").code == 0

    assert data(spec)["spec"]["state_thresholds"] == {"executing": "3h", "pending_scheduled": "30s"}


def test_set_thresholds_writes_running_in_a_file_without_thresholds(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file("kind: job\nmetadata:\n  name: t\nspec:\n  image: x\n")

    assert cli("set-thresholds", path, "running=1h").code == 0

    assert data(path)["spec"]["state_thresholds"] == {"running": "1h"}


def test_set_thresholds_replace_drops_the_others(spec: Path, cli: Cli) -> None:
    assert cli("set-thresholds", spec, "--replace", "image_pull_backoff=10m").code == 0

    assert data(spec)["spec"]["state_thresholds"] == {"image_pull_backoff": "10m"}


@pytest.mark.parametrize(
    ("value", "message"), [("running=1H", "not a valid time string"), ("stuck=1h", "unknown state 'stuck'")]
)
def test_set_thresholds_refuses_bad_values(spec: Path, cli: Cli, value: str, message: str) -> None:
    result = cli("set-thresholds", spec, value)

    assert result.code == 3
    assert message in result.err
    assert spec.read_text() == SPEC


def test_set_thresholds_on_a_nuclio_function_is_refused(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file("kind: nuclio\nmetadata:\n  name: n\nspec:\n  image: x\n")
    before = path.read_bytes()

    result = cli("set-thresholds", path, "running=1h")

    assert result.code == 3
    assert "State thresholds do not apply for nuclio" in result.err
    assert path.read_bytes() == before


# --- set-resources -----------------------------------------------------------------------------


def test_set_resources_replaces_a_section_unless_patched(spec: Path, cli: Cli) -> None:
    assert cli("set-resources", spec, "--requests", "cpu=2").code == 0
    assert data(spec)["spec"]["resources"] == {"requests": {"cpu": 2}}

    assert cli("set-resources", spec, "--requests", "mem=3G", "--patch").code == 0
    assert data(spec)["spec"]["resources"] == {"requests": {"cpu": 2, "memory": "3G"}}


def test_set_resources_gpus_of_two_types(spec: Path, cli: Cli) -> None:
    assert cli("set-resources", spec, "--limits", "mem=2G,cpu=2,gpus=1").code == 0
    assert data(spec)["spec"]["resources"]["limits"] == {"memory": "2G", "cpu": 2, "nvidia.com/gpu": 1}

    assert cli("set-resources", spec, "--limits", "gpus=2", "--gpu-type", "amd.com/gpu", "--patch").code == 0

    assert data(spec)["spec"]["resources"]["limits"] == {
        "memory": "2G",
        "cpu": 2,
        "nvidia.com/gpu": 1,
        "amd.com/gpu": 2,
    }


@pytest.mark.parametrize("memory", ["1 GB", "1GB", "1Gb"])
def test_set_resources_refuses_a_malformed_quantity(spec: Path, cli: Cli, memory: str) -> None:
    result = cli("set-resources", spec, "--requests", f"mem={memory}")

    assert result.code == 3
    assert "is not a Kubernetes quantity" in result.err
    assert spec.read_text() == SPEC


def test_an_invalid_result_is_refused_and_the_file_is_byte_identical(spec: Path, cli: Cli) -> None:
    before = spec.read_bytes()

    result = cli("set-resources", spec, "--limits", "cpu=100m")

    assert result.code == 3
    assert f"{spec}:18:7: spec.resources.requests.cpu: request 500m is above the limit 100m" in result.err
    assert "the file was not changed" in result.err
    assert spec.read_bytes() == before


SPARK = "kind: spark\nmetadata:\n  name: s\nspec:\n  image: spark:3\n  command: main.py\n"


def test_set_resources_on_spark_without_a_side_is_refused_naming_the_options(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(SPARK, "s.yaml")

    result = cli("set-resources", path, "--requests", "cpu=1,memory=2g")

    assert result.code == 3
    assert "give --driver and/or --executor" in result.err
    assert "spec.driver_resources / spec.executor_resources" in result.err
    assert path.read_text() == SPARK


def test_set_resources_on_spark_sets_the_driver_and_executor_sides_in_jvm_sizes(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(SPARK, "s.yaml")

    assert cli("set-resources", path, "--driver", "--requests", "cpu=1,mem=2g", "--limits", "cpu=2").code == 0
    assert cli("set-resources", path, "--driver", "--executor", "--requests", "memory=4G", "--patch").code == 0

    spec = yaml.safe_load(path.read_text())["spec"]
    assert "resources" not in spec
    assert spec["driver_resources"] == {"requests": {"cpu": 1, "memory": "4G"}, "limits": {"cpu": 2}}
    assert spec["executor_resources"] == {"requests": {"memory": "4G"}}


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (SPEC, ["--driver", "--requests", "cpu=1"], "--driver and --executor apply to spark functions"),
        (SPARK, ["--executor", "--requests", "mem=2x"], "neither a JVM memory size"),
    ],
)
def test_set_resources_sides_are_for_spark_and_take_spark_memory(
    spec_file: SpecFile, cli: Cli, text: str, args: list[str], message: str
) -> None:
    path = spec_file(text, "f.yaml")
    before = path.read_bytes()

    result = cli("set-resources", path, *args)

    assert result.code == 3
    assert message in result.err
    assert path.read_bytes() == before


# --- set-replicas, set-preemption, set-priority, set-node-selection --------------------------------


def test_set_replicas_of_an_mpijob(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file("kind: mpijob\nmetadata:\n  name: m\nspec:\n  image: x\n  replicas: 2\n")

    assert cli("set-replicas", path, "4").code == 0

    assert data(path)["spec"]["replicas"] == 4


def test_set_replicas_range_drops_a_fixed_count(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file("kind: nuclio\nmetadata:\n  name: n\nspec:\n  image: x\n  replicas: 2\n")

    assert cli("set-replicas", path, "--min", "1", "--max", "5").code == 0

    assert data(path)["spec"] == {"image": "x", "min_replicas": 1, "max_replicas": 5}


def test_set_replicas_on_a_job_is_refused(spec: Path, cli: Cli) -> None:
    result = cli("set-replicas", spec, "3")

    assert result.code == 3
    assert "kind 'job' runs one pod per run; replicas do not apply" in result.err
    assert spec.read_text() == SPEC


def test_set_replicas_with_min_above_max_is_refused(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file("kind: dask\nmetadata:\n  name: d\nspec:\n  image: x\n")

    result = cli("set-replicas", path, "--min", "6", "--max", "5")

    assert result.code == 3
    assert "--min 6 is above --max 5" in result.err


def test_set_preemption(spec: Path, cli: Cli) -> None:
    assert cli("set-preemption", spec, "allow").code == 0
    assert data(spec)["spec"]["preemption_mode"] == "allow"

    result = cli("set-preemption", spec, "sometimes")
    assert result.code == 3
    assert "preemption mode 'sometimes' is not one of allow, constrain, prevent, none" in result.err


def test_set_priority_is_checked_against_the_configured_list(
    spec: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCTL_VALID_FUNCTION_PRIORITY_CLASS_NAMES", "low,high")

    assert cli("set-priority", spec, "high").code == 0
    assert data(spec)["spec"]["priority_class_name"] == "high"

    refused = cli("set-priority", spec, "urgent")
    assert refused.code == 3
    assert (
        "priority class 'urgent' is not among the configured names (in the edited result; "
        "the file was not changed) (valid: low, high)" in refused.err
    )
    assert data(spec)["spec"]["priority_class_name"] == "high"


def test_set_node_selection_replaces_each_given_field(spec: Path, cli: Cli) -> None:
    result = cli(
        "set-node-selection",
        spec,
        "--node-selector",
        "zone=a",
        "--node-selector",
        "gone=",
        "--toleration",
        "gpu=true:NoSchedule",
        "--toleration",
        "dedicated:NoExecute",
        "--node-name",
        "node-7",
        "--affinity",
        '{"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": '
        '{"nodeSelectorTerms": [{"matchExpressions": [{"key": "arch", "operator": "In", '
        '"values": ["amd64"]}]}]}}}',
    )

    assert result.code == 0, result.err
    spec_ = data(spec)["spec"]
    assert spec_["node_selector"] == {"zone": "a"}
    assert spec_["node_name"] == "node-7"
    assert spec_["tolerations"] == [
        {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
    ]
    assert (
        spec_["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
            "matchExpressions"
        ][0]["key"]
        == "arch"
    )


def test_set_node_selection_refuses_a_bad_label(spec: Path, cli: Cli) -> None:
    result = cli("set-node-selection", spec, "--node-selector", "a/b/c=x")

    assert result.code == 3
    assert "label key 'a/b/c' has more than one '/'" in result.err
    assert spec.read_text() == SPEC


# --- mount ---------------------------------------------------------------------------------------------


def test_mount_pvc_adds_volume_and_mount_and_turns_auto_mount_off(spec: Path, cli: Cli) -> None:
    assert cli("mount", spec, "pvc", "data-claim", "/data", "--volume-name", "data").code == 0

    spec_ = data(spec)["spec"]
    assert spec_["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-claim"}}]
    assert spec_["volume_mounts"] == [{"name": "data", "mountPath": "/data"}]
    assert spec_["disable_auto_mount"] is True


def test_mount_configmap_and_secret_with_items_keep_auto_mount(spec: Path, cli: Cli) -> None:
    assert cli("mount", spec, "configmap", "settings", "/etc/settings").code == 0
    assert cli("mount", spec, "secret", "creds", "/etc/creds", "--item", "token=api-token").code == 0

    spec_ = data(spec)["spec"]
    assert spec_["volumes"] == [
        {"name": "configmap", "configMap": {"name": "settings"}},
        {"name": "secret", "secret": {"secretName": "creds", "items": [{"key": "token", "path": "api-token"}]}},
    ]
    assert [m["mountPath"] for m in spec_["volume_mounts"]] == ["/etc/settings", "/etc/creds"]
    assert "disable_auto_mount" not in spec_


def test_mounting_the_same_path_again_replaces_the_mount(spec: Path, cli: Cli) -> None:
    cli("mount", spec, "pvc", "old-claim", "/data", "--volume-name", "data")
    cli("mount", spec, "pvc", "new-claim", "/data", "--volume-name", "data")

    spec_ = data(spec)["spec"]
    assert spec_["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "new-claim"}}]
    assert len(spec_["volume_mounts"]) == 1


def test_mount_v3io_reads_the_access_key_from_a_secret(spec: Path, cli: Cli) -> None:
    assert cli("mount", spec, "v3io", "v3io-creds", "--user", "ada").code == 0

    spec_ = data(spec)["spec"]
    assert spec_["volumes"] == [
        {"name": "v3io", "flexVolume": {"driver": "v3io/fuse", "options": {}, "secretRef": {"name": "v3io-creds"}}}
    ]
    assert spec_["volume_mounts"] == [
        {"name": "v3io", "mountPath": "/v3io", "subPath": ""},
        {"name": "v3io", "mountPath": "/User", "subPath": "users/ada"},
    ]
    assert "accessKey" not in spec.read_text()


def test_mount_v3io_remote_path(spec: Path, cli: Cli) -> None:
    assert cli("mount", spec, "v3io", "v3io-creds", "/data", "--remote", "projects/proj1/data").code == 0

    spec_ = data(spec)["spec"]
    assert spec_["volumes"][0]["flexVolume"]["options"] == {"container": "projects", "subPath": "/proj1/data"}
    assert spec_["volume_mounts"] == [{"name": "v3io", "mountPath": "/data"}]


@pytest.mark.parametrize("args", [("nfs", "x", "/x"), ("pvc", "claim"), ("v3io",)])
def test_mount_with_missing_or_unknown_arguments_is_a_usage_error(spec: Path, cli: Cli, args: tuple[str, ...]) -> None:
    result = cli("mount", spec, *args)

    assert result.code == 2
    assert spec.read_text() == SPEC


# --- new -------------------------------------------------------------------------------------------------


def test_new_embeds_the_code_and_the_result_validates(cli: Cli, tmp_path: Path) -> None:
    code = tmp_path / "greet.py"
    code.write_text('def greet(name="world"):\n    return f"hello {name}"\n', encoding="utf-8")
    target = tmp_path / "greet.yaml"

    result = cli("new", "job", "greet", "--from-file", code, "--handler", "greet", "-f", target)

    assert result.code == 0, result.err
    written = data(target)
    assert written["kind"] == "job"
    assert written["spec"]["default_handler"] == "greet"
    assert base64.b64decode(written["spec"]["build"]["functionSourceCode"]).decode() == code.read_text()
    assert cli("validate", target).code == 0


def test_new_prints_to_stdout_without_a_file(cli: Cli) -> None:
    result = cli("new", "nuclio", "api")

    assert result.code == 0
    assert yaml.safe_load(result.out)["spec"]["min_replicas"] == 1


def test_new_refuses_to_overwrite(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "exists.yaml"
    target.write_text("keep me\n", encoding="utf-8")

    result = cli("new", "job", "x", "-f", target)

    assert result.code == 3
    assert target.read_text() == "keep me\n"


def test_new_refuses_an_unknown_kind(cli: Cli) -> None:
    assert cli("new", "lambda", "x").code == 3


# --- what every edit keeps -------------------------------------------------------------------------------


def test_comments_key_order_quoting_and_long_lines_are_kept(spec: Path, cli: Cli) -> None:
    assert cli("set-preemption", spec, "allow").code == 0

    after = spec.read_text()
    removed, added = changed_lines(SPEC, after)
    assert removed == []
    assert added == ["  preemption_mode: allow"]
    assert after.startswith("# Training function, exported from MLRun.\n")
    assert "  name: trainer   # keep this comment\n" in after
    assert '  project: "demo"\n' in after


def test_a_change_inside_a_nested_block_touches_only_that_line(spec: Path, cli: Cli) -> None:
    assert cli("set-resources", spec, "--requests", "memory=2G", "--patch").code == 0

    assert changed_lines(SPEC, spec.read_text()) == (["      memory: 1G"], ["      memory: 2G"])


def test_dry_run_prints_a_diff_and_writes_nothing(spec: Path, cli: Cli) -> None:
    before = spec.read_bytes()
    mtime = spec.stat().st_mtime_ns

    result = cli("set-env", spec, "A=3", "--dry-run")

    assert result.code == 0
    assert result.out.startswith(f"--- a/{spec}\n+++ b/{spec}\n@@ ")
    assert "-    value: '1'\n+    value: '3'\n" in result.out
    assert spec.read_bytes() == before
    assert spec.stat().st_mtime_ns == mtime


def test_dry_run_without_a_change_says_so(spec: Path, cli: Cli) -> None:
    result = cli("set-env", spec, "A=1", "--dry-run")

    assert result.code == 0
    assert result.out == ""
    assert "no change" in result.err


def test_the_write_keeps_the_mode_and_leaves_no_temporary_file(spec: Path, cli: Cli) -> None:
    spec.chmod(0o640)

    assert cli("set-env", spec, "A=3").code == 0

    assert stat.S_IMODE(spec.stat().st_mode) == 0o640
    assert sorted(p.name for p in spec.parent.iterdir()) == ["trainer.yaml"]


def test_the_file_is_replaced_by_rename_not_rewritten(spec: Path, cli: Cli) -> None:
    inode = spec.stat().st_ino

    assert cli("set-env", spec, "A=3").code == 0

    assert spec.stat().st_ino != inode


def test_a_failed_write_leaves_the_file_and_no_temporary_file(
    spec: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = spec.read_bytes()

    def full_disk(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)

    result = cli("set-env", spec, "A=3")

    assert result.code == 3
    assert f"{spec}: cannot write (No space left on device)" in result.err
    assert spec.read_bytes() == before
    assert sorted(p.name for p in spec.parent.iterdir()) == ["trainer.yaml"]


def test_editing_a_missing_file_is_an_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("set-env", tmp_path / "missing.yaml", "A=1")

    assert result.code == 3
    assert "missing.yaml: no such file" in result.err


def test_editing_a_file_with_a_yaml_error_is_refused_and_located(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file("kind: job\nmetadata:\n  name: a\n  name: b\nspec: {}\n")

    result = cli("set-env", path, "A=1")

    assert result.code == 3
    assert f"{path}:4:3: metadata.name: duplicate key 'name'" in result.err


def test_mount_v3io_remote_without_a_path_names_the_real_argument(spec: Path, cli: Cli) -> None:
    result = cli("mount", spec, "v3io", "v3io-key", "--remote", "projects/p/data")

    assert result.code == 3
    assert "--mount-path" not in result.err
    assert "PATH" in result.err
