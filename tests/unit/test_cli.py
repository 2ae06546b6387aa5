"""The CLI boundary: documented exit codes, data on stdout, messages on stderr, tracebacks only on --debug."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlctl import pipeline
from mlctl.errors import ExitCode
from tests.unit.support import REPO, Cli, SpecFile

GOOD = "kind: job\nmetadata:\n  name: trainer\nspec:\n  image: python:3.11\n  command: python -m trainer\n"
WARNS = GOOD + "  preemption_mode: constrain\n"
BAD = GOOD + "  preemption_mode: sometimes\n"


def test_exit_codes_are_the_documented_numbers() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "DIFFERENCES": 1,
        "USAGE": 2,
        "INVALID_INPUT": 3,
        "CLUSTER": 4,
        "RUN_FAILED": 5,
        "RUN_ABORTED": 6,
        "WAIT_TIMEOUT": 7,
        "HUB": 8,
        "INTERNAL": 70,
        "INTERRUPTED": 130,
    }


def test_the_readme_documents_every_exit_code() -> None:
    import re

    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    assert {int(c) for c in ExitCode} <= documented


def test_a_valid_spec_exits_0(spec_file: SpecFile, cli: Cli) -> None:
    assert cli("validate", spec_file(GOOD)).code == 0


def test_help_and_version_exit_0(cli: Cli) -> None:
    helped = cli("--help")
    assert helped.code == 0
    assert "validate" in helped.out and "render" in helped.out
    version = cli("--version")
    assert version.code == 0
    assert version.out.startswith("mlctl ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Usage: mlctl"),
        (("validate",), "Missing argument"),
        (("render", "--bogus", "x.yaml"), "--bogus"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("set-replicas", "f.yaml", "not-a-number"), "'not-a-number' is not a valid integer"),
        (("validate", "-o", "yaml", "f.yaml"), "'yaml' is not one of 'text', 'json'"),
    ],
)
def test_usage_errors_exit_2_with_a_message_on_stderr(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli(*args)

    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err
    assert "internal error" not in result.err


@pytest.mark.parametrize(
    "mistake",
    [
        "missing-file",
        "directory",
        "broken-yaml",
        "empty-file",
        "not-utf8",
        "invalid-spec",
        "bad-set",
        "missing-env-file",
        "bad-config-env",
        "missing-config-file",
        "bad-param",
        "bad-threshold-flag",
    ],
)
def test_user_mistakes_exit_3_never_70_and_show_no_traceback(
    mistake: str, cli: Cli, spec_file: SpecFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = spec_file(GOOD, "good.yaml")
    commands: dict[str, list[str | Path]] = {
        "missing-file": ["validate", tmp_path / "nope.yaml"],
        "directory": ["render", tmp_path],
        "broken-yaml": ["render", spec_file("kind: job\nmetadata: [\n", "broken.yaml")],
        "empty-file": ["render", spec_file("", "empty.yaml")],
        "not-utf8": ["validate", tmp_path / "latin1.yaml"],
        "invalid-spec": ["render", spec_file(BAD, "bad.yaml")],
        "bad-set": ["render", good, "--set", "spec.resources.requests.cpu=lots"],
        "missing-env-file": ["render", good, "--env-file", tmp_path / "nope.env"],
        "bad-config-env": ["validate", good],
        "missing-config-file": ["--config", tmp_path / "nope.yaml", "validate", good],
        "bad-param": ["render", good, "-p", "novalue"],
        "bad-threshold-flag": ["render", good, "--threshold", "running=1H"],
    }
    args = commands[mistake]
    (tmp_path / "latin1.yaml").write_bytes(b"kind: job\nmetadata: {name: caf\xe9}\n")
    if mistake == "bad-config-env":
        monkeypatch.setenv("MLCTL_FUNCTION_DEFAULTS__PREEMPTION_MODE", "sometimes")

    result = cli(*args)

    assert result.code == ExitCode.INVALID_INPUT, result.err
    assert result.err.strip(), "a user mistake is explained"
    assert "Traceback" not in result.err
    assert "internal error" not in result.err
    assert result.out == ""


def test_a_bug_exits_70_without_a_traceback_and_says_how_to_get_one(
    spec_file: SpecFile, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pipeline, "check", broken)

    result = cli("render", spec_file(GOOD))

    assert result.code == ExitCode.INTERNAL
    assert result.err.splitlines() == [
        "internal error: ZeroDivisionError: division by zero",
        "this is a bug in mlctl; run again with --debug for the traceback",
    ]
    assert result.out == ""


def test_debug_shows_the_traceback_of_a_bug(spec_file: SpecFile, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(pipeline, "check", broken)

    result = cli("--debug", "render", spec_file(GOOD))

    assert result.code == ExitCode.INTERNAL
    assert "Traceback (most recent call last)" in result.err
    assert 'in broken\n    raise ZeroDivisionError("division by zero")' in result.err


def test_debug_shows_the_traceback_of_a_user_error_too(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("--debug", "render", spec_file(BAD))

    assert result.code == ExitCode.INVALID_INPUT
    assert "Traceback (most recent call last)" in result.err
    assert "spec.preemption_mode" in result.err


def test_mlctl_debug_variable_works_like_the_flag(
    spec_file: SpecFile, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCTL_DEBUG", "1")

    assert "Traceback" in cli("render", spec_file(BAD)).err


def test_ctrl_c_exits_130(spec_file: SpecFile, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "check", interrupted)

    assert cli("render", spec_file(GOOD)).code == ExitCode.INTERRUPTED


# --- stdout carries data only ------------------------------------------------------------------


def test_render_with_warnings_keeps_stdout_pure_yaml(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("render", spec_file(WARNS), "--run-id", "r1")

    assert result.code == 0
    assert [d["kind"] for d in yaml.safe_load_all(result.out)] == ["Job"]
    assert result.err.startswith("warning: ")


def test_validate_text_output_goes_to_stderr(spec_file: SpecFile, cli: Cli) -> None:
    ok = cli("validate", spec_file(WARNS))
    failed = cli("validate", spec_file(BAD, "bad.yaml"))

    assert ok.out == failed.out == ""
    assert "warning:" in ok.err
    assert "spec.preemption_mode" in failed.err


def _kinds(data: dict[str, Any]) -> list[str]:
    return [item["kind"] for item in data["items"]]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("validate", "{good}", "-o", "json"), lambda d: d["valid"] and d["files"] == 1 and d["problems"] == []),
        (
            ("validate", "{bad}", "-o", "json"),
            lambda d: not d["valid"] and [p["path"] for p in d["problems"]] == ["spec.preemption_mode"],
        ),
        (("validate", "{warns}", "-o", "json"), lambda d: d["valid"] and d["problems"][0]["severity"] == "warning"),
        (("render", "{good}", "-o", "json", "--run-id", "r1"), lambda d: d["kind"] == "List" and _kinds(d) == ["Job"]),
        (("render", "{warns}", "-o", "json", "--run-id", "r1"), lambda d: _kinds(d) == ["Job"]),
        (("render", "{good}", "-o", "json", "--function"), lambda d: d["kind"] == "List" and _kinds(d) == []),
        (
            ("config", "show", "-o", "json"),
            lambda d: (
                d["origins"]["function_defaults.preemption_mode"] == "default"
                and d["values"]["function_defaults"]["preemption_mode"] == "prevent"
            ),
        ),
    ],
)
def test_json_output_says_what_happened(
    spec_file: SpecFile, cli: Cli, args: tuple[str, ...], says: Callable[[dict[str, Any]], bool]
) -> None:
    paths = {
        "good": spec_file(GOOD, "good.yaml"),
        "bad": spec_file(BAD, "bad.yaml"),
        "warns": spec_file(WARNS, "warns.yaml"),
    }

    result = cli(*(a.format(**paths) for a in args))

    assert says(json.loads(result.out)), result.out


def test_validate_json_reports_warnings_with_their_severity(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("validate", spec_file(WARNS), "-o", "json")

    report = json.loads(result.out)
    assert result.code == 0
    assert report["valid"] is True
    assert [(p["severity"], p["line"], p["path"]) for p in report["problems"]] == [
        ("warning", 7, "spec.preemption_mode")
    ]


def test_the_installed_command_runs_as_a_program(spec_file: SpecFile) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mlctl", "validate", str(spec_file(BAD))],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )

    assert done.returncode == 3
    assert done.stdout == ""
    assert "spec.preemption_mode" in done.stderr


@pytest.mark.parametrize(
    ("kubeconfig", "local"),
    [
        ("", True),  # no file
        ("{}\n", True),  # a file without a context names no cluster, as for kubectl
        (
            "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
            "contexts: [{name: c, context: {cluster: k}}]\ncurrent-context: c\n",
            False,
        ),
    ],
    ids=["no kubeconfig", "empty kubeconfig", "a current context"],
)
def test_run_falls_back_to_a_local_run_only_without_a_kubeconfig_context(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kubeconfig: str, local: bool
) -> None:
    monkeypatch.delenv("KUBECONFIG")
    if kubeconfig:
        (Path.home() / ".kube").mkdir()
        (Path.home() / ".kube" / "config").write_text(kubeconfig)

    result = cli("run", REPO / "specs-examples" / "hello.yaml", "--param", "name=world")

    if local:
        assert result.code == ExitCode.OK, result
        assert "no cluster configured" in result.err
        assert "Hello, world!" in result.out
    else:  # the cluster path is taken (and, in the unit tier, refused before any connection)
        assert "no cluster configured" not in result.err
        assert "unit tests run without a cluster" in result.err, result


def test_one_invocation_leaves_nothing_to_the_next(spec_file: SpecFile, cli: Cli) -> None:
    """Global options live on the invocation: a later command in the same process starts clean."""
    typo = spec_file(GOOD + "  resourcez: {}\n")
    assert cli("--validate", "strict", "validate", typo).code == ExitCode.INVALID_INPUT
    assert cli("--validate", "ignore", "validate", typo).code == ExitCode.OK
    assert cli("validate", typo).code == ExitCode.INVALID_INPUT  # the default, warn: a likely typo is an error
