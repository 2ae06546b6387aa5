"""kubeconfig as kubectl reads it: files, merging, contexts, paths, in-cluster; no network."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from mlctl import errors
from mlctl.cluster import kubeconfig

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


FIRST = f"""
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example:6443/
    certificate-authority-data: {b64(CA)}
- name: shared
  cluster: {{server: 'https://first.example'}}
users:
- name: dev-user
  user:
    client-certificate: certs/dev.crt
    client-key: /abs/dev.key
contexts:
- name: dev
  context: {{cluster: dev-cluster, user: dev-user, namespace: team-a}}
- name: both
  context: {{cluster: shared, user: token-user}}
"""

SECOND = """
current-context: prod
clusters:
- name: shared
  cluster: {server: 'https://second.example'}
- name: prod-cluster
  cluster: {server: 'https://prod.example', insecure-skip-tls-verify: true, tls-server-name: api.prod}
users:
- name: token-user
  user: {token: abc, as: jane, as-groups: [ops, dev]}
- name: dev-user
  user: {token: never-used}
contexts:
- name: prod
  context: {cluster: prod-cluster, user: token-user}
"""


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    return write(tmp_path / "a" / "config", FIRST), write(tmp_path / "b" / "config", SECOND)


def test_the_first_file_wins_each_name_and_the_current_context(two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    environ = {"KUBECONFIG": os.pathsep.join([str(first), "/does/not/exist", str(second)])}

    target = kubeconfig.load(None, None, environ)

    assert target.context == "dev"
    assert target.server == "https://dev.example:6443"  # trailing slash dropped
    assert target.namespace == "team-a"
    assert target.ca_pem == CA
    # a relative path is relative to the file that holds it; an absolute one is kept
    assert target.cert_file == str(first.parent / "certs" / "dev.crt")
    assert target.key_file == "/abs/dev.key"
    assert target.token == ""  # dev-user of the second file is shadowed


def test_a_context_may_join_a_cluster_of_one_file_and_a_user_of_another(two_files: tuple[Path, Path]) -> None:
    environ = {"KUBECONFIG": os.pathsep.join(map(str, two_files))}

    both = kubeconfig.load(None, "both", environ)
    prod = kubeconfig.load(None, "prod", environ)

    assert both.server == "https://first.example"
    assert both.token == "abc"
    assert both.namespace == "default"
    assert (prod.insecure, prod.tls_server_name) == (True, "api.prod")
    assert (prod.impersonate, prod.impersonate_groups) == ("jane", ("ops", "dev"))


def test_the_kubeconfig_flag_reads_that_file_only(two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    target = kubeconfig.load(str(second), None, {"KUBECONFIG": str(first)})
    assert target.context == "prod"
    with pytest.raises(errors.InvalidInput, match="does not exist"):
        kubeconfig.load(str(second.parent / "missing"), None, {})


def test_an_unknown_context_names_the_known_ones(two_files: tuple[Path, Path]) -> None:
    with pytest.raises(errors.InvalidInput, match=r"context 'qa' does not exist .*\(contexts: both, dev\)"):
        kubeconfig.load(str(two_files[0]), "qa", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [\n  - name: x\n   bad", r"config:\d+:\d+: not valid YAML"),
        ("- just a list", "a mapping is expected"),
        ("clusters: {name: x}", "clusters must be a list of entries"),
        ("contexts: [{name: c, context: {cluster: nowhere}}]\ncurrent-context: c", "cluster 'nowhere'"),
        (
            "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
            "contexts: [{name: c, context: {cluster: k, user: ghost}}]\ncurrent-context: c",
            "user 'ghost', which is not defined",
        ),
        (
            "clusters: [{name: k, cluster: {server: 'unix:///run/k.sock'}}]\n"
            "contexts: [{name: c, context: {cluster: k}}]\ncurrent-context: c",
            "server 'unix:///run/k.sock' of cluster 'k' is not an http URL",
        ),
        ("clusters: [{name: k, cluster: {}}]\ncontexts: [{name: c, context: {cluster: k}}]\n", "no current context"),
        (
            "clusters: [{name: k, cluster: {certificate-authority-data: '%%%', server: 'https://k'}}]\n"
            "contexts: [{name: c, context: {cluster: k}}]\ncurrent-context: c",
            "not base64",
        ),
        (
            "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
            "users: [{name: u, user: {exec: {args: [x]}}}]\n"
            "contexts: [{name: c, context: {cluster: k, user: u}}]\ncurrent-context: c",
            "exec plugin of user 'u' has no command",
        ),
    ],
)
def test_a_broken_kubeconfig_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "config", text)
    with pytest.raises(errors.InvalidInput, match=message) as caught:
        kubeconfig.load(str(path), None, {})
    assert caught.value.exit_code == errors.ExitCode.INVALID_INPUT


def test_an_exec_command_with_a_path_is_relative_to_its_file(tmp_path: Path) -> None:
    text = (
        "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
        "users: [{name: a, user: {exec: {command: ./bin/plugin}}}, {name: b, user: {exec: {command: aws}}}]\n"
        "contexts: [{name: a, context: {cluster: k, user: a}}, {name: b, context: {cluster: k, user: b}}]\n"
    )
    path = write(tmp_path / "kube" / "config", text)
    assert kubeconfig.load(str(path), "a", {}).exec == {"command": str(path.parent / "bin" / "plugin")}
    assert kubeconfig.load(str(path), "b", {}).exec == {"command": "aws"}


def test_without_a_kubeconfig_the_pod_service_account_is_used(tmp_path: Path) -> None:
    account = tmp_path / "sa"
    write(account / "token", "tok\n")
    write(account / "namespace", "jobs\n")
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}

    target = kubeconfig.in_cluster(environ, account)

    assert target is not None
    assert target.server == "https://[fd00::1]:443"
    assert (target.namespace, target.token_file, target.ca_file) == (
        "jobs",
        str(account / "token"),
        str(account / "ca.crt"),
    )
    assert kubeconfig.in_cluster({}, account) is None


def test_in_a_pod_a_kubeconfig_without_a_context_gives_way_to_the_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_files: tuple[Path, Path]
) -> None:
    account = tmp_path / "sa"
    write(account / "token", "tok")
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT", account)
    pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    empty = str(write(tmp_path / "empty", "{}"))

    assert kubeconfig.load(None, None, {**pod, "KUBECONFIG": empty}).context == "in-cluster"
    assert kubeconfig.configured(None, {**pod, "KUBECONFIG": empty})
    # a kubeconfig that names a context still wins, and an explicit one is never passed over
    assert kubeconfig.load(None, None, {**pod, "KUBECONFIG": str(two_files[1])}).context == "prod"
    with pytest.raises(errors.InvalidInput, match="no current context"):
        kubeconfig.load(empty, None, pod)


def test_no_cluster_at_all_is_unreachable_and_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(errors.Unreachable, match="no cluster configured"):
        kubeconfig.load(None, None, {"KUBECONFIG": str(tmp_path / "none")})


def test_configured_means_a_context_to_use(tmp_path: Path, two_files: tuple[Path, Path]) -> None:
    missing = {"KUBECONFIG": str(tmp_path / "none")}
    empty = {"KUBECONFIG": str(write(tmp_path / "empty", "{}"))}
    assert not kubeconfig.configured(None, missing)
    assert not kubeconfig.configured(None, empty)  # no current context: kubectl has no cluster either
    assert kubeconfig.configured(None, empty, context="dev")  # asked for by name: connecting will tell
    assert kubeconfig.configured(str(tmp_path / "none"), {})  # likewise a --kubeconfig file
    assert kubeconfig.configured(None, {"KUBECONFIG": str(two_files[1])})
    assert kubeconfig.configured(None, {"KUBECONFIG": str(write(tmp_path / "broken", "- [\n"))})


def test_secrets_stay_out_of_the_targets_repr(two_files: tuple[Path, Path]) -> None:
    target = kubeconfig.load(str(two_files[1]), None, {})
    assert "abc" not in repr(target)
