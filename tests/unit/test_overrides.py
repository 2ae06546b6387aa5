"""Command-line overrides: one precedence ladder, merged into the document, validated again.

spec file < env files (in order) < --env < the other flags < --set
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import pipeline
from mlctl.errors import InvalidInput
from mlctl.spec import overrides
from tests.unit.support import Cli, SpecFile

DEFAULT = config_.resolve({}, [])

SPEC: dict[str, Any] = {
    "kind": "job",
    "metadata": {"name": "trainer"},
    "spec": {
        "image": "python:3.11",
        "env": [{"name": "A", "value": "spec"}, {"name": "B", "value": "spec"}],
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2"}},
        "node_selector": {"zone": "a", "pool": "cpu"},
        "state_thresholds": {"running": "2h", "image_pull_backoff": "5m"},
    },
}

SPEC_YAML = """\
kind: job
metadata:
  name: trainer
spec:
  image: python:3.11
  env:
  - name: A
    value: spec
  resources:
    requests: {cpu: '1', memory: 1Gi}
    limits: {cpu: '2'}
"""


def env_of(data: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in data["spec"]["env"]}


def test_no_overrides_leave_the_document_as_it_is() -> None:
    assert overrides.apply(SPEC, overrides.Overrides()) == SPEC


def test_the_input_document_is_never_changed() -> None:
    before = json.dumps(SPEC, sort_keys=True)

    overrides.apply(SPEC, overrides.Overrides(image="x", env=(("A", "1"),), sets=(("spec.replicas", 3),)))

    assert json.dumps(SPEC, sort_keys=True) == before


def test_env_files_apply_in_order_the_later_winning() -> None:
    result = overrides.apply(SPEC, overrides.Overrides(env_files=({"A": "first", "C": "first"}, {"C": "second"})))

    assert env_of(result) == {"A": "first", "B": "spec", "C": "second"}


def test_env_flag_wins_over_env_files_and_keeps_the_position() -> None:
    result = overrides.apply(SPEC, overrides.Overrides(env_files=({"B": "file"},), env=(("B", "flag"),)))

    assert [e["name"] for e in result["spec"]["env"]] == ["A", "B"]
    assert env_of(result)["B"] == "flag"


def test_set_wins_over_every_other_flag() -> None:
    result = overrides.apply(
        SPEC,
        overrides.Overrides(
            env=(("A", "flag"),),
            image="from-flag",
            preemption_mode="allow",
            sets=(("spec.env[0].value", "from-set"), ("spec.image", "from-set"), ("spec.preemption_mode", "none")),
        ),
    )

    assert env_of(result)["A"] == "from-set"
    assert result["spec"]["image"] == "from-set"
    assert result["spec"]["preemption_mode"] == "none"


def test_requests_and_limits_flags_patch_their_sections() -> None:
    result = overrides.apply(
        SPEC, overrides.Overrides(requests={"mem": "2Gi"}, limits={"gpus": "1"}, gpu_type="amd.com/gpu")
    )

    assert result["spec"]["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "2", "amd.com/gpu": "1"},
    }


def test_gpus_default_to_the_configured_gpu_type() -> None:
    result = overrides.apply(SPEC, overrides.Overrides(limits={"gpus": "2"}), "nvidia.com/gpu")

    assert result["spec"]["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_node_selector_flag_adds_to_the_spec_selector() -> None:
    result = overrides.apply(SPEC, overrides.Overrides(node_selector={"zone": "b", "gpu": "true"}))

    assert result["spec"]["node_selector"] == {"zone": "b", "pool": "cpu", "gpu": "true"}


def test_threshold_flags_replace_the_specs_thresholds() -> None:
    result = overrides.apply(SPEC, overrides.Overrides(thresholds={"pending_scheduled": "5m"}))

    assert result["spec"]["state_thresholds"] == {"pending_scheduled": "5m"}


def test_set_creates_missing_mappings_and_appends_to_a_list() -> None:
    result = overrides.apply(
        SPEC,
        overrides.Overrides(
            sets=(("spec.security_context.runAsUser", 1000), ("spec.env[2]", {"name": "C", "value": "3"}))
        ),
    )

    assert result["spec"]["security_context"] == {"runAsUser": 1000}
    assert env_of(result)["C"] == "3"


# --- parsing the flags -----------------------------------------------------------------


def test_bare_env_name_takes_its_value_from_the_environment() -> None:
    assert overrides.parse_env(["TOKEN", "B=2"], {"TOKEN": "s3cret"}) == (("TOKEN", "s3cret"), ("B", "2"))


def test_bare_env_name_missing_from_the_environment_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="--env TOKEN: not set in the environment"):
        overrides.parse_env(["TOKEN"], {})


@pytest.mark.parametrize("value", ["=x", "1A=x", "A B=x"])
def test_invalid_env_names_are_errors(value: str) -> None:
    with pytest.raises(InvalidInput, match="--env"):
        overrides.parse_env([value], {})


def test_set_values_are_read_as_yaml() -> None:
    parsed = dict(
        overrides.parse_sets(
            [
                "spec.replicas=3",
                "spec.disable_auto_mount=true",
                "spec.args=[a, b]",
                "spec.image=python:3.11",
                "spec.description=",
                "spec.command=a: b",
            ]
        )
    )

    assert parsed == {
        "spec.replicas": 3,
        "spec.disable_auto_mount": True,
        "spec.args": ["a", "b"],
        "spec.image": "python:3.11",
        "spec.description": "",
        "spec.command": "a: b",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("spec.replicas", "--set 'spec.replicas': expected KEY=VALUE"),
        ("=3", "--set '=3': the key is empty"),
        ("spec..replicas=3", "not a path such as spec.replicas"),
        ("spec.env[x]=3", "not a path such as spec.replicas"),
    ],
)
def test_malformed_set_is_an_error(value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace(".", r"\.")):
        overrides.parse_sets([value])


def test_set_into_a_missing_list_index_is_an_error() -> None:
    with pytest.raises(InvalidInput, match=r"--set spec.env\[5\].value: index \[5\] does not exist"):
        overrides.apply(SPEC, overrides.Overrides(sets=(("spec.env[5].value", "x"),)))


def test_set_under_a_plain_value_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="'tag' is inside a value that is not a mapping"):
        overrides.apply(SPEC, overrides.Overrides(sets=(("spec.image.tag", "x"),)))


def test_resource_flags_accept_commas_and_repeats() -> None:
    assert overrides.parse_resource_list(["cpu=1,memory=1Gi", "gpus=1"], "--limits") == {
        "cpu": "1",
        "memory": "1Gi",
        "gpus": "1",
    }
    with pytest.raises(InvalidInput, match="--limits 'cpu': expected KEY=VALUE"):
        overrides.parse_resource_list(["cpu"], "--limits")


# --- the result is validated again -----------------------------------------------------


def test_an_override_that_breaks_the_spec_is_refused_with_its_location(spec_file: SpecFile) -> None:
    path = spec_file(SPEC_YAML)

    with pytest.raises(InvalidInput) as caught:
        pipeline.load(str(path), DEFAULT, overrides.Overrides(sets=(("spec.resources.requests.cpu", "lots"),)))

    (problem,) = caught.value.problems
    assert (problem.line, problem.path) == (10, "spec.resources.requests.cpu")
    assert "'lots' is not a Kubernetes quantity" in problem.message


def test_an_override_that_raises_requests_above_limits_is_refused(spec_file: SpecFile) -> None:
    path = spec_file(SPEC_YAML)

    with pytest.raises(InvalidInput, match="1 problem found") as caught:
        pipeline.load(str(path), DEFAULT, overrides.Overrides(requests={"cpu": "4"}))

    assert "request 4 is above the limit 2 for cpu" in caught.value.problems[0].message


def test_overrides_reach_the_function_model(spec_file: SpecFile) -> None:
    path = spec_file(SPEC_YAML)

    loaded = pipeline.load(str(path), DEFAULT, overrides.Overrides(image="python:3.12", preemption_mode="none"))

    assert loaded.function.image == "python:3.12"
    assert loaded.function.preemption_mode == "none"


def test_cli_ladder_end_to_end(spec_file: SpecFile, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = spec_file(SPEC_YAML)
    first = tmp_path / "first.env"
    first.write_text("A=first-file\nB=first-file\nC=first-file\nD=first-file\n", encoding="utf-8")
    second = tmp_path / "second.env"
    second.write_text("B=second-file\nC=second-file\nD=second-file\n", encoding="utf-8")
    monkeypatch.setenv("D", "from-shell")

    result = cli(
        "render",
        path,
        "--run-id",
        "r1",
        "-o",
        "json",
        "--env-file",
        first,
        "--env-file",
        second,
        "--env",
        "C=flag",
        "--env",
        "D",
        "--set",
        "spec.env[0].value=set",
    )

    assert result.code == 0, result.err
    job = json.loads(result.out)["items"][-1]
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    assert env == {"A": "set", "B": "second-file", "C": "flag", "D": "from-shell"}


def test_cli_set_that_breaks_the_spec_exits_3(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(SPEC_YAML)

    result = cli("render", path, "--set", "spec.resources.requests.cpu=lots")

    assert result.code == 3
    assert result.out == ""
    assert f"{path}:10:" in result.err
    assert "'lots' is not a Kubernetes quantity" in result.err


def test_cli_env_file_with_a_bad_line_exits_3_naming_the_line(spec_file: SpecFile, cli: Cli, tmp_path: Path) -> None:
    path = spec_file(SPEC_YAML)
    env = tmp_path / "bad.env"
    env.write_text("A=1\njustkey\n", encoding="utf-8")

    result = cli("render", path, "--env-file", env)

    assert result.code == 3
    assert f"{env}:2:1: a line with no '=' ('justke...')" in result.err


def test_a_date_given_on_the_command_line_stays_text_so_runs_carry_json() -> None:
    from mlctl.runs import ids

    params = ids.parse_params(["day=2024-01-31", "epochs=3", "layers=[1, 2]", "flag=true"])

    assert params == {"day": "2024-01-31", "epochs": 3, "layers": [1, 2], "flag": True}
    assert overrides.parse_sets(["spec.description=2024-01-31"]) == (("spec.description", "2024-01-31"),)


class CountingEntry(dict[str, Any]):
    """An env entry that counts how often its name is looked at."""

    looks = 0

    def get(self, key: str, default: Any = None) -> Any:
        CountingEntry.looks += 1
        return super().get(key, default)


def test_setting_many_variables_looks_at_each_entry_once() -> None:
    env: list[Any] = [CountingEntry(name=f"OLD_{i}", value="1") for i in range(1000)]
    CountingEntry.looks = 0

    overrides.set_envs(env, [(f"VAR_{i}", str(i)) for i in range(1000)] + [("OLD_7", "seven")])

    assert len(env) == 2000
    assert env[7] == {"name": "OLD_7", "value": "seven"}
    assert CountingEntry.looks <= 2 * 1000  # a search per variable looked a million times


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--preemption-mode", "junk"], "--preemption-mode 'junk': not one of"),
        (["--priority-class", "a b"], "--priority-class 'a b':"),
        (["--priority-class", "UPPER"], "--priority-class 'UPPER':"),
        (["--limits", "gpus=1.5"], "--limits gpus=1.5: GPUs are counted in whole devices"),
        (["--limits", "x y=1"], "--limits x y: not a resource name"),
    ],
)
def test_a_bad_flag_value_is_blamed_on_the_flag_not_a_spec_line(
    spec_file: SpecFile, cli: Cli, flags: list[str], message: str
) -> None:
    path = spec_file(SPEC_YAML)

    result = cli("render", path, *flags)

    assert result.code == 3
    assert f"error: {message}" in result.err
    assert f"{path}:" not in result.err


def test_set_env_names_itself_not_a_missing_env_option(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(SPEC_YAML)

    result = cli("set-env", path, "1BAD")

    assert result.code == 3
    assert "set-env '1BAD': not a valid variable name" in result.err
    assert "--env" not in result.err
