"""Every command honours ``-o`` or refuses the value with exit 2; namespaces default as kubectl's do."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer
import yaml

from mlctl.cli import commands, main
from mlctl.runs import local_store
from mlctl.runs import record as record_
from tests.unit.support import Cli, SpecFile

CODE_JOB = """
kind: job
metadata:
  name: trainer
spec:
  image: python:3.11
  default_handler: handler
  build:
    functionSourceCode: ZGVmIGhhbmRsZXIoKToKICAgIHJldHVybiAxCg==
    origin_filename: trainer.py
"""
NAME_LINE = re.compile(r"^[a-z]+/[a-z0-9][a-z0-9.-]*$")


def _output_options() -> dict[str, click.Parameter]:
    """Each command's --output/-o option, by command path (``runs list``)."""
    commands.load_all()
    found: dict[str, click.Parameter] = {}

    def walk(command: click.Command, path: str) -> None:
        for param in command.params:
            if "--output" in getattr(param, "opts", ()):
                found[path] = param
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())

    walk(typer.main.get_command(main.app), "")
    return found


def test_every_output_format_option_is_a_declared_choice() -> None:
    options = _output_options()
    options.pop("hub pull")  # its --output names the file to write, not a format
    assert {"render", "deploy", "run", "runs list", "runs get", "runs explain", "nodes"} <= set(options)
    loose = [path for path, param in options.items() if not isinstance(param.type, click.Choice)]
    assert loose == []


def _local_run() -> None:
    local_store.start(
        record_.RunRecord(
            run_id="r-local-1",
            function="trainer",
            project="p",
            kind="job",
            where="local",
            namespace="",
            state="running",
        ),
        pid=1,
    )
    local_store.finish("r-local-1", record_.SUCCEEDED)


def test_runs_list_prints_yaml_when_asked(cli: Cli) -> None:
    _local_run()
    result = cli("runs", "list", "-o", "yaml")
    assert result.code == 0, result.err
    [listed] = yaml.safe_load(result.out)
    assert listed["run_id"] == "r-local-1" and listed["state"] == "completed"


def test_runs_list_refuses_a_format_it_does_not_know(cli: Cli) -> None:
    result = cli("runs", "list", "-o", "xml")
    assert result.code == 2
    assert result.out == ""
    assert "'xml' is not one of" in result.err


def test_runs_get_prints_every_field_as_yaml(cli: Cli) -> None:
    _local_run()
    result = cli("runs", "get", "r-local-1", "-o", "yaml")
    assert result.code == 0, result.err
    assert yaml.safe_load(result.out)["status_text"] == ""  # -o yaml keeps empty fields; text drops them


def test_deploy_client_dry_run_prints_names(spec_file: SpecFile, cli: Cli) -> None:
    result = cli("deploy", spec_file(CODE_JOB), "--dry-run=client", "-o", "name")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines and all(NAME_LINE.match(line) for line in lines), result.out


KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: team
contexts:
- name: team
  context: {cluster: c, user: u, namespace: team-a}
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
"""


@pytest.fixture()
def team_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG, encoding="utf-8")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def test_render_uses_the_kubeconfig_contexts_namespace(team_kubeconfig: Path, spec_file: SpecFile, cli: Cli) -> None:
    result = cli("render", spec_file(CODE_JOB), "--run-id", "r1")
    assert result.code == 0, result.err
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(result.out)} == {"team-a"}


def test_deploy_client_dry_run_uses_the_kubeconfig_contexts_namespace(
    team_kubeconfig: Path, spec_file: SpecFile, cli: Cli
) -> None:
    result = cli("deploy", spec_file(CODE_JOB), "--dry-run=client")
    assert result.code == 0, result.err
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(result.out)} == {"team-a"}


def test_render_without_a_kubeconfig_uses_default_and_the_flag_wins(spec_file: SpecFile, cli: Cli) -> None:
    path = spec_file(CODE_JOB)
    plain = cli("render", path, "--run-id", "r1")
    given = cli("render", path, "--run-id", "r1", "-n", "given")
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(plain.out)} == {"default"}
    assert {d["metadata"]["namespace"] for d in yaml.safe_load_all(given.out)} == {"given"}


def test_render_help_states_the_default_namespace_it_uses(cli: Cli) -> None:
    assert "default: the kubeconfig context's, else 'default'" in " ".join(cli("render", "--help").out.split())
