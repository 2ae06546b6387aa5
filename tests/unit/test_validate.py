"""What ``mlctl validate`` reports: every problem, located, sorted, at once."""

from __future__ import annotations

import json
import textwrap

import pytest

from mlctl import config as config_
from mlctl.errors import Problem
from mlctl.spec import loader, validate
from tests.unit.support import SPOT_ENV, Cli, SpecFile

DEFAULT = config_.resolve({}, [])
SPOT = config_.resolve(SPOT_ENV, [])


def check(text: str, config: config_.Config = DEFAULT) -> list[Problem]:
    return validate.check(loader.load_text(textwrap.dedent(text).lstrip("\n"), "f.yaml"), config)


def errors(text: str, config: config_.Config = DEFAULT) -> list[str]:
    return [located(p) for p in check(text, config) if p.severity == "error"]


def warnings(text: str, config: config_.Config = DEFAULT) -> list[str]:
    return [located(p) for p in check(text, config) if p.severity == "warning"]


def located(problem: Problem) -> str:
    hint = f" ({problem.hint})" if problem.hint else ""
    return f"{problem.line}:{problem.column} {problem.path}: {problem.message}{hint}"


def job(spec: str = "", kind: str = "job") -> str:
    """A valid function of ``kind`` with extra lines under ``spec:`` (indented by two)."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"kind: {kind}\nmetadata:\n  name: trainer\n  project: demo\nspec:\n  image: python:3.11\n{body}\n"


# --- a valid spec ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["job", "mpijob", "dask", "nuclio", "remote", "serving", "application", "spark"])
def test_a_minimal_spec_of_each_kind_has_no_problem(kind: str) -> None:
    assert check(job(kind=kind)) == []


# --- unknown keys ------------------------------------------------------------


def test_unknown_key_is_located_and_suggests_the_known_one() -> None:
    assert errors(job("resourcez: {}")) == ["7:3 spec.resourcez: unknown key 'resourcez' (did you mean 'resources'?)"]


def test_unknown_key_deep_in_the_spec_is_located() -> None:
    found = errors(
        job("""
        resources:
          requests: {cpu: 1}
          limitz: {cpu: 2}
    """)
    )

    assert found == ["9:5 spec.resources.limitz: unknown key 'limitz' (did you mean 'limits'?)"]


def test_unknown_top_level_key_is_an_error() -> None:
    text = job() + "statuz: {}\n"

    assert [p.split(" ", 1)[1] for p in errors(text)] == ["statuz: unknown key 'statuz' (did you mean 'status'?)"]


# --- quantities --------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1 GB", "1GB", "1Gb", "1.2.3", "two"])
def test_malformed_memory_quantity_is_an_error_at_its_value(amount: str) -> None:
    found = errors(
        job(f"""
        resources:
          requests:
            memory: '{amount}'
    """)
    )

    assert found == [
        f"9:7 spec.resources.requests.memory: '{amount}' is not a Kubernetes quantity "
        "(examples: 500m, 2, 1.5, 512Mi, 4Gi, 1e3)"
    ]


@pytest.mark.parametrize("amount", ["1Gi", "1e3", "500m", "0.5", "1.5G", "100Mi", "2"])
def test_well_formed_quantities_pass(amount: str) -> None:
    assert (
        check(
            job(f"""
        resources:
          requests: {{cpu: '{amount}', memory: '{amount}'}}
          limits: {{cpu: '{amount}', memory: '{amount}'}}
    """)
        )
        == []
    )


def test_negative_quantity_is_an_error() -> None:
    found = errors(
        job("""
        resources:
          limits: {memory: '-1Gi'}
    """)
    )

    assert found == ["8:14 spec.resources.limits.memory: limit -1Gi is negative (resource amounts are 0 or more)"]


def test_requests_above_limits_are_an_error_compared_by_value_not_text() -> None:
    found = errors(
        job("""
        resources:
          requests: {cpu: 1500m, memory: 1Gi}
          limits: {cpu: '1', memory: 1024Mi}
    """)
    )

    assert found == [
        "8:16 spec.resources.requests.cpu: request 1500m is above the limit 1 for cpu (requests must be at most limits)"
    ]


def test_gpu_request_different_from_its_limit_is_an_error() -> None:
    found = errors(
        job("""
        resources:
          requests: {nvidia.com/gpu: 1}
          limits: {nvidia.com/gpu: 2}
    """)
    )

    assert found == [
        "8:16 spec.resources.requests.nvidia.com/gpu: GPU request 1 differs from its limit 2 "
        "(GPU requests must equal GPU limits)"
    ]


def test_gpu_request_without_a_limit_is_an_error() -> None:
    found = errors(
        job("""
        resources:
          requests: {amd.com/gpu: 1}
    """)
    )

    assert found == [
        "8:16 spec.resources.requests.amd.com/gpu: a GPU request (amd.com/gpu) needs an equal limit "
        "(set limits.amd.com/gpu too; Kubernetes does not overcommit GPUs)"
    ]


def test_gpu_limit_alone_is_fine() -> None:
    assert (
        check(
            job("""
        resources:
          requests: {cpu: 1}
          limits: {cpu: 1, nvidia.com/gpu: 1}
    """)
        )
        == []
    )


# --- labels ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("invalid/key/format/with/slash: x", "label key 'invalid/key/format/with/slash' has more than one '/'"),
        ("key-with-dash/: x", "label key 'key-with-dash/' has an empty name"),
        ("Bad_Prefix.com/name: x", "label key prefix 'Bad_Prefix.com' is not a DNS subdomain"),
        ("-starts-with-dash: x", "label key name '-starts-with-dash' must be at most 63 characters"),
        ("zone: .valid-val", "label value '.valid-val' must be at most 63 characters"),
        (f"zone: {'a' * 64}", f"label value '{'a' * 64}' must be at most 63 characters"),
    ],
)
def test_invalid_node_selector_label_is_an_error(line: str, message: str) -> None:
    (found,) = errors(job(f"node_selector:\n  {line}"))

    assert found.startswith("8:5 spec.node_selector.")
    assert message in found


def test_valid_labels_pass_including_an_empty_value_and_a_prefixed_key() -> None:
    assert (
        check(
            job("""
        node_selector:
          test: ''
          kubernetes.io/os: linux
          zone: 'a'
    """)
        )
        == []
    )


def test_invalid_metadata_label_is_only_a_warning() -> None:
    text = "kind: job\nmetadata:\n  name: t\n  labels:\n    framework: tensorflow, keras\nspec:\n  image: x\n"

    assert errors(text) == []
    (warning,) = warnings(text)
    assert warning.startswith("5:5 metadata.labels.framework: label value 'tensorflow, keras'")
    assert "not put on Kubernetes objects" in warning


# --- state thresholds ---------------------------------------------------------


def test_valid_thresholds_in_both_spellings_pass() -> None:
    assert (
        check(
            job("""
        state_thresholds:
          pending_scheduled: '-1'
          pending_not_scheduled: 1 minute and 30s
          image_pull_backoff: 3m
          executing: 1000s
    """)
        )
        == []
    )
    assert check(job("state_thresholds: {running: 24h}")) == []


def test_unknown_state_is_an_error() -> None:
    (found,) = errors(job("state_thresholds: {unknown_state: 1h}"))

    assert found.startswith("7:22 spec.state_thresholds.unknown_state: unknown state 'unknown_state'")


def test_unknown_threshold_state_is_an_error_with_a_suggestion() -> None:
    assert errors(job("state_thresholds: {pending_schedule: 1h}")) == [
        "7:22 spec.state_thresholds.pending_schedule: unknown state 'pending_schedule' "
        "(did you mean 'pending_scheduled'?)"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3mm", "'3mm' is not a valid time string: unknown unit 'mm'"),
        ("'10'", "'10' is not a valid time string"),
        ("1H", "'1H' is not a valid time string: unknown unit 'H'"),
        ("1 minute and", "'1 minute and' is not a valid time string (trailing 'and')"),
        ("0.5s", "'0.5s' is shorter than the minimum of 1 second"),
        ("10", "threshold 10 must be a string with a unit"),
    ],
)
def test_bad_time_string_is_an_error_at_its_state(value: str, message: str) -> None:
    (found,) = errors(job(f"state_thresholds:\n  image_pull_backoff: {value}"))

    assert found.startswith(f"8:5 spec.state_thresholds.image_pull_backoff: {message}")


def test_both_spellings_of_one_state_are_an_error() -> None:
    found = errors(job("state_thresholds: {running: 1h, executing: 2h}"))

    assert found == [
        "7:35 spec.state_thresholds.executing: 'executing' and 'running' name the same state (keep one of them)"
    ]


# MLRun's own words, so a user who met them there recognises them
NUCLIO_REFUSAL = "State thresholds do not apply for nuclio as it has its own function pods healthiness monitoring"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("nuclio", NUCLIO_REFUSAL),
        ("remote", NUCLIO_REFUSAL),
        ("serving", NUCLIO_REFUSAL),
        ("application", NUCLIO_REFUSAL),
        ("dask", "State thresholds is not supported for Dask runtime yet, use spec.scheduler_timeout instead"),
    ],
)
def test_thresholds_on_a_kind_that_monitors_itself_are_an_error(kind: str, message: str) -> None:
    (found,) = errors(job("state_thresholds: {running: 1h}", kind=kind))

    assert found.startswith(f"7:3 spec.state_thresholds: {message}")


@pytest.mark.parametrize("kind", ["job", "mpijob", "spark"])
def test_thresholds_on_a_batch_kind_pass(kind: str) -> None:
    assert errors(job("state_thresholds: {running: 1h}", kind=kind)) == []


# --- preemption and priority ------------------------------------------------------


def test_invalid_preemption_mode_is_an_error_listing_the_modes() -> None:
    assert errors(job("preemption_mode: sometimes")) == [
        '7:3 spec.preemption_mode: "sometimes" is not one of: allow, constrain, prevent, none'
    ]


@pytest.mark.parametrize("mode", ["allow", "constrain", "prevent", "none"])
def test_each_preemption_mode_is_accepted(mode: str) -> None:
    assert errors(job(f"preemption_mode: {mode}"), SPOT) == []


def test_priority_class_outside_the_configured_list_is_an_error_listing_them() -> None:
    config = config_.resolve({"MLCTL_VALID_FUNCTION_PRIORITY_CLASS_NAMES": "low,medium,low"}, [])

    assert errors(job("priority_class_name: high"), config) == [
        "7:3 spec.priority_class_name: priority class 'high' is not among the configured names (valid: low, medium)"
    ]
    assert errors(job("priority_class_name: medium"), config) == []


def test_any_priority_class_is_allowed_when_no_list_is_configured() -> None:
    assert check(job("priority_class_name: anything-goes")) == []


# --- lints: warnings, never errors ----------------------------------------------------


def test_limits_different_from_requests_on_an_autoscaled_function_is_a_warning() -> None:
    text = job(
        """
        min_replicas: 1
        max_replicas: 4
        resources:
          requests: {cpu: 500m, memory: 1Gi}
          limits: {cpu: '1', memory: 1Gi}
    """,
        kind="nuclio",
    )

    assert errors(text) == []
    assert warnings(text) == [
        "9:3 spec.resources: limits differ from requests (cpu) on an autoscaled function "
        "(node auto-scaling works best with limits equal to requests)"
    ]


def test_equal_limits_and_requests_written_differently_do_not_warn() -> None:
    text = job(
        """
        min_replicas: 1
        max_replicas: 4
        resources:
          requests: {cpu: 500m, memory: 1Gi}
          limits: {cpu: '0.5', memory: 1024Mi, nvidia.com/gpu: 1}
        config:
          spec.triggers.http: {kind: http, maxWorkers: 1}
    """,
        kind="serving",
    )

    assert check(text) == []


def test_fixed_replicas_do_not_warn_about_autoscaling() -> None:
    text = job(
        """
        replicas: 2
        min_replicas: 1
        max_replicas: 4
        resources:
          requests: {cpu: 500m}
          limits: {cpu: '1'}
    """,
        kind="nuclio",
    )

    assert check(text) == []


def test_http_workers_different_from_gpus_is_a_warning() -> None:
    text = job(
        """
        resources:
          limits: {nvidia.com/gpu: 2}
        config:
          spec.triggers.http: {kind: http, maxWorkers: 8}
    """,
        kind="serving",
    )

    assert errors(text) == []
    assert warnings(text) == [
        "10:5 spec.config.spec.triggers.http: 8 HTTP worker(s) share 2 GPU(s) per pod "
        "(use as many workers as GPUs, or manage GPU use in the code)"
    ]


def test_constrain_without_a_preemptible_profile_is_a_warning() -> None:
    text = job("preemption_mode: constrain")

    assert errors(text) == []
    (warning,) = warnings(text)
    assert warning.startswith(
        "7:3 spec.preemption_mode: preemption mode 'constrain' has no effect: no preemptible-node profile is configured"
    )
    assert warnings(text, SPOT) == []


def test_node_selector_asking_for_spot_under_prevent_is_a_warning() -> None:
    text = job("node_selector: {node-lifecycle: spot}")

    assert errors(text, SPOT) == []
    (warning,) = warnings(text, SPOT)
    assert warning.startswith(
        "7:19 spec.node_selector.node-lifecycle: node selector node-lifecycle=spot asks for "
        "a preemptible node, but preemption mode is 'prevent'"
    )


def test_node_selector_excluding_spot_under_constrain_is_a_warning() -> None:
    text = job("""
        preemption_mode: constrain
        node_selector: {node-lifecycle: on-demand}
    """)

    assert errors(text, SPOT) == []
    (warning,) = warnings(text, SPOT)
    assert (
        "node selector node-lifecycle=on-demand excludes preemptible nodes (node-lifecycle=spot), "
        "but preemption mode is 'constrain'" in warning
    )


def test_config_default_preemption_mode_is_the_one_linted() -> None:
    config = config_.resolve({"MLCTL_FUNCTION_DEFAULTS__PREEMPTION_MODE": "constrain"}, [])

    (warning,) = warnings(job(), config)

    assert "preemption mode 'constrain' has no effect" in warning


# --- all at once, sorted -------------------------------------------------------------


BAD = """\
kind: job
metadata:
  name: trainer
spec:
  image: python:3.11
  state_thresholds:
    executing: 1H
  preemption_mode: sometimes
  resources:
    requests:
      memory: 1 GB
      cpu: '4'
    limits:
      cpu: '2'
  resourcez: {}
"""


def test_every_problem_is_reported_at_once_sorted_by_line() -> None:
    found = [located(p) for p in validate.check(loader.load_text(BAD, "f.yaml"), DEFAULT)]

    assert [f.split(" ", 1)[0] for f in found] == ["7:5", "8:3", "11:7", "12:7", "15:3"]
    assert all(p.severity == "error" for p in validate.check(loader.load_text(BAD, "f.yaml"), DEFAULT))


def test_a_problem_is_said_once_even_when_schema_and_checks_both_see_it() -> None:
    found = errors(job("resources: {requests: {memory: 1 GB}}"))

    assert len(found) == 1


def test_cli_prints_file_line_col_for_every_problem_and_exits_3(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(BAD, "train.yaml")

    result = cli("validate", path)

    assert result.code == 3
    lines = result.err.splitlines()
    assert (
        lines[0] == f"{path}:7:5: spec.state_thresholds.executing: '1H' is not a valid time string: "
        "unknown unit 'H' (use s, m, h, d, w, e.g. '90s', '1h 30m', '1 minute and 30s')"
    )
    assert lines[-2] == f"{path}:15:3: spec.resourcez: unknown key 'resourcez' (did you mean 'resources'?)"
    assert lines[-1] == "error: 5 problems found"
    assert result.out == ""


def test_cli_reports_problems_of_several_files_together(spec_file: SpecFile, cli: Cli) -> None:
    good = spec_file(job(), "good.yaml")
    bad = spec_file(job("preemption_mode: sometimes"), "bad.yaml")

    result = cli("validate", good, bad, "-o", "json")

    assert result.code == 3
    report = json.loads(result.out)
    assert report["valid"] is False
    assert report["files"] == 2
    assert [(p["file"], p["line"], p["column"], p["path"]) for p in report["problems"]] == [
        (str(bad), 7, 3, "spec.preemption_mode")
    ]


def test_cli_exits_0_with_warnings_only_and_prints_them(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(job("preemption_mode: constrain"))

    result = cli("validate", path)

    assert result.code == 0
    assert f"warning: {path}:7:3: spec.preemption_mode: preemption mode 'constrain' has no effect" in result.err
    assert result.err.splitlines()[-1] == "1 spec valid"


def test_cli_strict_turns_warnings_into_failure(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(job("preemption_mode: constrain"))

    assert cli("validate", "--strict", path).code == 3


def test_cli_reports_a_yaml_error_and_keeps_checking_the_other_files(spec_file: SpecFile, cli: Cli) -> None:
    broken = spec_file("kind: job\nmetadata: [\n", "broken.yaml")
    bad = spec_file(job("preemption_mode: sometimes"), "bad.yaml")

    result = cli("validate", broken, bad)

    assert result.code == 3
    assert f"{broken}:3:1: invalid YAML" in result.err
    assert f"{bad}:7:3: spec.preemption_mode" in result.err


# --- volumes -----------------------------------------------------------------


def test_a_mount_of_a_volume_the_spec_does_not_have_is_an_error_at_its_name() -> None:
    found = errors(
        job("""
        volumes:
          - {name: data, persistentVolumeClaim: {claimName: claim}}
        volume_mounts:
          - {name: data, mountPath: /data}
          - {name: ghost, mountPath: /ghost}
    """)
    )

    assert found == [
        "11:8 spec.volume_mounts[1].name: no volume named 'ghost' in spec.volumes"
        " (volumes: data; `mlctl mount` adds a volume and its mount together)"
    ]


def test_a_mount_without_any_volume_says_the_list_is_empty() -> None:
    found = errors(job("volume_mounts: [{name: ghost, mountPath: /ghost}]"))
    assert found == [
        "7:20 spec.volume_mounts[0].name: no volume named 'ghost' in spec.volumes"
        " (spec.volumes is empty; `mlctl mount` adds a volume and its mount together)"
    ]


def test_two_volumes_of_one_name_are_an_error_at_the_second() -> None:
    found = errors(
        job("""
        volumes:
          - {name: data, emptyDir: {}}
          - {name: data, configMap: {name: settings}}
    """)
    )
    assert found == ["9:8 spec.volumes[1].name: a second volume named 'data'"]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (
            "kind: job\nmetadata:\n  name: h\n  credentials:\n    access_key: 123456789012345678\nspec:\n  image: x\n",
            "metadata.credentials.access_key",
        ),
        ("kind: job\nmetadata:\n  name: h\nspec:\n  image: x\n  env:\n  - name: A\n    value: [hunter2]\n", "spec.env"),
    ],
)
def test_a_type_error_in_a_secret_bearing_field_names_the_type_not_the_value(text: str, path: str) -> None:
    found = errors(text)

    assert any(path in p and ("got an integer" in p or "got a list" in p) for p in found), found
    assert not any("123456789012345678" in p or "hunter2" in p for p in found)


def test_a_secret_bearing_value_set_on_the_command_line_is_not_printed(cli: Cli, spec_file: SpecFile) -> None:
    path = spec_file("kind: job\nmetadata:\n  name: h\nspec:\n  image: x\n")

    result = cli("render", path, "--set", "spec.env=[{name: X, value: [hunter2]}]")

    assert result.code == 3
    assert "hunter2" not in result.out + result.err


def test_other_fields_still_show_the_wrong_value() -> None:
    found = errors("kind: job\nmetadata:\n  name: h\nspec:\n  image: x\n  replicas: [7777]\n")

    assert any("7777" in p for p in found)


@pytest.mark.parametrize(
    ("base_spec", "where"),
    [
        ("    spec: [1]\n", ":7:5: spec.base_spec.spec:"),
        ("    spec:\n      build: 5\n", ":8:7: spec.base_spec.spec.build:"),
    ],
)
def test_base_spec_parts_that_are_not_mappings_are_located_errors_not_a_render_crash(
    cli: Cli, spec_file: SpecFile, base_spec: str, where: str
) -> None:
    path = spec_file("kind: nuclio\nmetadata:\n  name: n\nspec:\n  image: x\n  base_spec:\n" + base_spec)

    result = cli("render", path)

    assert result.code == 3
    assert f"{path}{where}" in result.err


# --- embedded code -----------------------------------------------------------


@pytest.mark.parametrize("encoded", ["'!!!'", "ZGVmIGhh!!!bmRsZXI=", "ZGVm IGhhbmRsZXI", "'//79'"])
def test_function_code_that_is_not_base64_utf8_is_a_located_error(encoded: str) -> None:
    found = errors(job(f"build:\n  functionSourceCode: {encoded}"))

    assert found == [
        "8:5 spec.build.functionSourceCode: not base64-encoded UTF-8 text "
        "(write the code file's base64 (base64 -w0 FILE), or start from `mlctl new --from-file FILE`)"
    ]


def test_function_code_in_base64_passes_also_across_lines() -> None:
    assert errors(job("build:\n  functionSourceCode: |\n    ZGVmIGhh\n    bmRsZXI=")) == []


def test_function_code_set_on_the_command_line_is_checked_too(cli: Cli, spec_file: SpecFile) -> None:
    path = spec_file(job(), "f.yaml")

    result = cli("render", path, "--set", "spec.build.functionSourceCode=!!!")

    assert result.code == 3
    assert "f.yaml:5:1: spec.build.functionSourceCode: not base64-encoded UTF-8 text" in result.err
    assert result.out == ""


# --- large env lists -----------------------------------------------------------


def test_problems_in_a_long_env_list_are_located_at_their_own_entries() -> None:
    entries = [f"- name: V{i}\n  value: x{i}" for i in range(200)]
    entries[70] = "- name: BAD\n  value: [1]"
    entries[150] = "- name: T\n  valu: typo"
    entries[199] = "- name: S\n  valueFrom: {secretKeyRef: {name: s}}"

    found = errors(job("env:\n" + "\n".join(entries)))

    assert found == [
        "149:5 spec.env[70].value: expected string or number or boolean or null, got a list",
        "309:5 spec.env[150].valu: unknown key 'valu' (did you mean 'value'?)",
        "407:17 spec.env[199].valueFrom.secretKeyRef: missing required key 'key'",
    ]
