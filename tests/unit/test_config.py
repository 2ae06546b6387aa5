"""mlctl's settings: MLRun's keys from defaults, files and MLCTL_/MLRUN_ variables, with origins."""

from __future__ import annotations

import base64
import errno
import json
from pathlib import Path

import pytest

from mlctl import config as config_
from mlctl.errors import ExitCode, InvalidInput
from mlctl.spec import config_files
from tests.unit.support import Cli

SPOT = {"node-lifecycle": "spot"}
SPOT_TOLERATION = {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(environ: dict[str, str] | None = None, **kwargs: object) -> config_.Config:
    return config_files.load(environ=environ or {}, **kwargs)  # type: ignore[arg-type]


# --- defaults and the environment ------------------------------------------------


def test_defaults_are_mlruns() -> None:
    config = load()

    assert config.default_preemption_mode == "prevent"
    assert config.preemptible_node_selector == {}
    assert config.preemptible_tolerations == []
    assert not config.has_preemptible_profile
    assert config.valid_priority_classes == []
    assert config.get("storage.auto_mount_type") == "auto"
    assert config.origin("function_defaults.preemption_mode") == "default"


@pytest.mark.parametrize("prefix", ["MLCTL_", "MLRUN_"])
def test_either_prefix_sets_a_key_with_double_underscore_nesting(prefix: str) -> None:
    config = load({f"{prefix}FUNCTION_DEFAULTS__PREEMPTION_MODE": "allow"})

    assert config.default_preemption_mode == "allow"
    assert config.origin("function_defaults.preemption_mode") == f"environment ({prefix}*)"


def test_mlctl_spelling_wins_over_mlrun_spelling() -> None:
    config = load(
        {"MLRUN_FUNCTION_DEFAULTS__PREEMPTION_MODE": "allow", "MLCTL_FUNCTION_DEFAULTS__PREEMPTION_MODE": "none"}
    )

    assert config.default_preemption_mode == "none"


def test_json_value_from_the_environment() -> None:
    config = load(
        {
            "MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR": json.dumps(SPOT),
            "MLCTL_PREEMPTIBLE_NODES__TOLERATIONS": json.dumps([SPOT_TOLERATION]),
        }
    )

    assert config.preemptible_node_selector == SPOT
    assert config.preemptible_tolerations == [SPOT_TOLERATION]
    assert config.has_preemptible_profile


def test_base64_json_value_from_the_environment_as_mlrun_writes_it() -> None:
    config = load(
        {
            "MLRUN_PREEMPTIBLE_NODES__NODE_SELECTOR": b64(SPOT),
            "MLRUN_PREEMPTIBLE_NODES__TOLERATIONS": b64([SPOT_TOLERATION]),
        }
    )

    assert config.preemptible_node_selector == SPOT
    assert config.preemptible_tolerations == [SPOT_TOLERATION]


def test_plain_text_value_stays_text() -> None:
    config = load({"MLCTL_DEFAULT_IMAGE": "python:3.12-slim", "MLCTL_PVC_MOUNT": "claim:/mnt/data"})

    assert config.get("default_image") == "python:3.12-slim"
    assert config.get("pvc_mount") == "claim:/mnt/data"


def test_variables_for_other_mlrun_keys_are_ignored() -> None:
    config = load(
        {"MLRUN_DBPATH": "http://mlrun-api:8080", "MLRUN_HTTPDB__REAL_PATH": "/x", "MLCTL_STATE_DIR": "/tmp/x"}
    )

    assert config.get("dbpath") is None
    assert config.get("httpdb") is None


def test_priority_class_list_is_split_and_deduplicated_in_order() -> None:
    config = load({"MLRUN_VALID_FUNCTION_PRIORITY_CLASS_NAMES": "high, low,high,,medium"})

    assert config.valid_priority_classes == ["high", "low", "medium"]


@pytest.mark.parametrize(
    "raw", ["pvc_name=claim,volume_mount_path=/data", b64({"pvc_name": "claim", "volume_mount_path": "/data"})]
)
def test_auto_mount_params_as_pairs_or_base64_json(raw: str) -> None:
    config = load({"MLRUN_STORAGE__AUTO_MOUNT_PARAMS": raw})

    assert config.auto_mount_params == {"pvc_name": "claim", "volume_mount_path": "/data"}


# --- files -------------------------------------------------------------------------


def test_user_config_file_is_read(tmp_path: Path) -> None:
    write(config_files.user_config_path(), "function_defaults:\n  preemption_mode: allow\n")

    config = load()

    assert config.default_preemption_mode == "allow"
    assert config.origin("function_defaults.preemption_mode") == str(config_files.user_config_path())


def test_project_file_is_found_in_the_nearest_parent_folder(tmp_path: Path) -> None:
    project = write(tmp_path / "repo" / ".mlctl.yaml", "default_image: python:3.12\n")
    deep = tmp_path / "repo" / "a" / "b"
    deep.mkdir(parents=True)

    config = load(cwd=deep)

    assert config.get("default_image") == "python:3.12"
    assert config.origin("default_image") == str(project)


def test_layers_apply_in_order_files_then_mlrun_then_mlctl_variables(tmp_path: Path) -> None:
    write(
        config_files.user_config_path(),
        "default_image: from-user\ndefault_gpu_type: user.com/gpu\n"
        "pvc_mount: user:/u\nhub_url: user\nserving_engine: kubernetes\n",
    )
    write(
        tmp_path / ".mlctl.yaml",
        "default_image: from-project\ndefault_gpu_type: project.com/gpu\npvc_mount: project:/p\nhub_url: project\n",
    )
    explicit = write(
        tmp_path / "explicit.yaml",
        "default_image: from-explicit\ndefault_gpu_type: explicit.com/gpu\npvc_mount: explicit:/e\n",
    )

    config = load(
        {
            "MLRUN_DEFAULT_IMAGE": "from-mlrun-env",
            "MLCTL_DEFAULT_IMAGE": "from-mlctl-env",
            "MLRUN_DEFAULT_GPU_TYPE": "mlrun.com/gpu",
        },
        config_file=str(explicit),
        cwd=tmp_path,
    )

    assert config.get("default_image") == "from-mlctl-env"
    assert config.get("default_gpu_type") == "mlrun.com/gpu"
    assert config.get("pvc_mount") == "explicit:/e"
    assert config.get("hub_url") == "project"
    assert config.get("serving_engine") == "kubernetes"
    assert config.origin("pvc_mount") == str(explicit)


def test_mlctl_config_variable_names_the_explicit_file(tmp_path: Path) -> None:
    explicit = write(tmp_path / "c.yaml", "function_defaults: {preemption_mode: none}\n")

    config = load({"MLCTL_CONFIG": str(explicit)})

    assert config.default_preemption_mode == "none"


def test_an_mlrun_config_file_may_hold_keys_mlctl_does_not_use(tmp_path: Path) -> None:
    mlrun_file = write(
        tmp_path / "mlrun.yaml", "dbpath: http://mlrun-api:8080\nfunction_defaults: {preemption_mode: allow}\n"
    )

    config = load({"MLRUN_CONFIG_FILE": str(mlrun_file)})

    assert config.default_preemption_mode == "allow"


def test_a_label_map_set_by_a_later_layer_replaces_the_earlier_one_whole(tmp_path: Path) -> None:
    write(tmp_path / ".mlctl.yaml", "preemptible_nodes:\n  node_selector: {node-lifecycle: spot, pool: a}\n")

    config = load({"MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR": json.dumps({"lifecycle": "preemptible"})}, cwd=tmp_path)

    assert config.preemptible_node_selector == {"lifecycle": "preemptible"}
    assert config.origin("preemptible_nodes.node_selector.lifecycle") == "environment (MLCTL_*)"


def test_a_file_with_only_comments_sets_nothing(tmp_path: Path) -> None:
    write(tmp_path / ".mlctl.yaml", "# nothing here yet\n")

    assert load(cwd=tmp_path).default_preemption_mode == "prevent"


def test_project_node_selector_from_the_projects_key(tmp_path: Path) -> None:
    write(tmp_path / ".mlctl.yaml", "projects:\n  demo:\n    default_function_node_selector: {zone: us-west1}\n")

    config = load(cwd=tmp_path)

    assert config.project_node_selector("demo") == {"zone": "us-west1"}
    assert config.project_node_selector("other") == {}


# --- bad values: clear errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"MLCTL_FUNCTION_DEFAULTS__PREEMPTION_MODE": "sometimes"},
            "config function_defaults.preemption_mode (from environment (MLCTL_*)): 'sometimes' is not one of "
            "allow, constrain, prevent, none",
        ),
        (
            {"MLRUN_STORAGE__AUTO_MOUNT_TYPE": "nfs"},
            "config storage.auto_mount_type (from environment (MLRUN_*)): 'nfs' is not one of none, auto, "
            "v3io_credentials, v3io_fuse, pvc, s3, env",
        ),
        (
            {"MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR": "node-lifecycle=spot"},
            "config preemptible_nodes.node_selector: expected JSON or base64-encoded JSON, got 'node-lifecycle=spot'",
        ),
        (
            {"MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR": '["spot"]'},
            "config preemptible_nodes.node_selector (from environment (MLCTL_*)): expected a mapping",
        ),
        (
            {"MLCTL_PREEMPTIBLE_NODES__TOLERATIONS": json.dumps(SPOT_TOLERATION)},
            "config preemptible_nodes.tolerations (from environment (MLCTL_*)): expected a list of tolerations",
        ),
        (
            {"MLCTL_DEFAULT_FUNCTION_NODE_SELECTOR": "{not json"},
            "config default_function_node_selector: expected JSON or base64-encoded JSON",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_the_key_and_where_it_came_from(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load(environ)

    assert caught.value.message.startswith(message)
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


def test_unknown_key_in_a_config_file_is_located_and_the_known_ones_listed(tmp_path: Path) -> None:
    path = write(tmp_path / ".mlctl.yaml", "default_image: x\npreemption_mode: allow\n")

    with pytest.raises(InvalidInput) as caught:
        load(cwd=tmp_path)

    assert caught.value.message.startswith(f"{path}:2:1: unknown config key 'preemption_mode' (known: ")
    assert "function_defaults" in caught.value.message


def test_broken_yaml_in_a_config_file_is_located(tmp_path: Path) -> None:
    write(tmp_path / ".mlctl.yaml", "function_defaults: [\n")

    with pytest.raises(InvalidInput) as caught:
        load(cwd=tmp_path)

    assert str(caught.value.problems[0]).startswith(f"{tmp_path / '.mlctl.yaml'}:2:1: invalid YAML")


def test_a_config_file_that_is_not_a_mapping_says_so(tmp_path: Path) -> None:
    write(tmp_path / ".mlctl.yaml", "- a\n")

    with pytest.raises(InvalidInput) as caught:
        load(cwd=tmp_path)

    assert "a config file must be a YAML mapping" in str(caught.value.problems[0])


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"missing\.yaml: config file does not exist"):
        load(config_file=str(tmp_path / "missing.yaml"))


# --- the CLI ------------------------------------------------------------------------


def _refuse(monkeypatch: pytest.MonkeyPatch, method: str, locked: Path) -> None:
    """``Path.<method>`` fails under ``locked`` as it does for a user without permission there."""
    real = getattr(Path, method)

    def guarded(self: Path, *args: object, **kwargs: object) -> object:
        if self == locked or locked in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, method, guarded)


@pytest.mark.parametrize("case", ["folder", "not-utf8", "unreadable", "in-a-locked-folder", "locked-project-file"])
def test_a_config_file_that_cannot_be_read_is_an_invalid_input_naming_it(
    case: str, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write(tmp_path / "f.yaml", "kind: job\nmetadata:\n  name: f\nspec:\n  image: python:3.11\n")
    config = write(tmp_path / "c.yaml", "default_image: python:3.12\n")
    args: list[str | Path] = ["--config", config, "validate", spec]
    if case == "folder":
        args[1] = tmp_path
        expected = f"{tmp_path}: is a directory, not a config file"
    elif case == "not-utf8":
        config.write_bytes(b"default_image: caf\xe9\n")
        expected = f"{config}:1:19: not UTF-8 text"
    elif case == "unreadable":  # mode 000 for anyone but root
        _refuse(monkeypatch, "open", config)
        expected = f"{config}: cannot read (Permission denied)"
    elif case == "in-a-locked-folder":  # a folder without search permission: even stat fails
        _refuse(monkeypatch, "stat", tmp_path / "locked")
        args[1] = tmp_path / "locked" / "c.yaml"
        expected = f"{tmp_path / 'locked' / 'c.yaml'}: cannot read config file (Permission denied)"
    else:
        project = write(Path.cwd() / ".mlctl.yaml", "default_image: python:3.12\n")
        _refuse(monkeypatch, "stat", project)
        args = ["validate", spec]
        expected = f"{project}: cannot read config file (Permission denied)"

    result = cli(*args)

    assert result.code == ExitCode.INVALID_INPUT, result.err
    assert expected in result.err
    assert "internal error" not in result.err


def test_config_show_names_the_origin_of_every_value(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(Path.cwd() / ".mlctl.yaml", "default_image: python:3.12\n")
    monkeypatch.setenv("MLRUN_VALID_FUNCTION_PRIORITY_CLASS_NAMES", "low,high")
    monkeypatch.setenv("MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR", json.dumps(SPOT))

    result = cli("config", "show")

    assert result.code == 0
    rows = {line.split()[0]: line for line in result.out.splitlines()}
    assert rows["default_image"].endswith(f"python:3.12  ({Path.cwd() / '.mlctl.yaml'})")
    assert rows["valid_function_priority_class_names"].endswith("low,high  (environment (MLRUN_*))")
    assert rows["preemptible_nodes.node_selector.node-lifecycle"].endswith("spot  (environment (MLCTL_*))")
    assert rows["function_defaults.preemption_mode"].endswith("prevent  (default)")


def test_config_show_as_json_has_values_and_origins(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCTL_FUNCTION_DEFAULTS__PREEMPTION_MODE", "allow")

    result = cli("config", "show", "-o", "json")

    shown = json.loads(result.out)
    assert shown["values"]["function_defaults"]["preemption_mode"] == "allow"
    assert shown["origins"]["function_defaults.preemption_mode"] == "environment (MLCTL_*)"


def test_global_config_option_is_read(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "team.yaml", "default_gpu_type: amd.com/gpu\n")

    result = cli("--config", path, "config", "show", "-o", "json")

    assert json.loads(result.out)["origins"]["default_gpu_type"] == str(path)


def test_a_bad_config_value_exits_3_with_one_line_on_stderr(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_FUNCTION_DEFAULTS__PREEMPTION_MODE", "sometimes")

    result = cli("config", "show")

    assert result.code == 3
    assert result.out == ""
    assert result.err.startswith("error: config function_defaults.preemption_mode (from environment (MLRUN_*))")
    assert "Traceback" not in result.err


def test_config_show_redacts_an_access_key_unless_asked(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_STORAGE__AUTO_MOUNT_PARAMS", "access_key=AK-secret,user=ada")

    hidden = cli("config", "show")
    hidden_json = cli("config", "show", "-o", "json")
    shown = cli("config", "show", "--show-secrets")

    assert "AK-secret" not in hidden.out
    assert "AK-secret" not in hidden_json.out
    assert "user=ada" in hidden.out
    assert "access_key=AK-secret" in shown.out


def test_config_show_with_an_unknown_format_is_a_usage_error(cli: Cli) -> None:
    result = cli("config", "show", "-o", "xml")

    assert result.code == 2
    assert "'xml' is not one of 'table', 'yaml', 'json'" in result.err
