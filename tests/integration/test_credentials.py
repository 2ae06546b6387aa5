"""Every way a kubeconfig can say who the user is, against the real API server.

A ServiceAccount with the ``admin`` role in the test's namespace, and a
token for it from the TokenRequest API, are given to mlctl as a token, a
``tokenFile``, an exec credential plugin, a plugin that hands out a client
certificate, and a legacy ``auth-provider`` (which goes through the official
client). Each deploys a function; a wrong token is refused with exit 4.
"""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.integration.support import REPO, Mlctl

pytest_plugins = ["tests.integration.fixtures"]

HELLO = str(REPO / "specs-examples" / "hello.yaml")


@pytest.fixture
def token(api_client: Any, namespace: str) -> str:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "deployer"}})
    client.RbacAuthorizationV1Api(api_client).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "deployer-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": namespace}],
        },
    )
    request = core.create_namespaced_service_account_token("deployer", namespace, {"spec": {"expirationSeconds": 3600}})
    return str(request.status.token)


def kubeconfig_with(admin: Path, folder: Path, user: dict[str, Any]) -> Path:
    """The admin kubeconfig's cluster, with another user."""
    document = yaml.safe_load(admin.read_text())
    document["users"] = [{"name": "someone", "user": user}]
    document["contexts"][0]["context"]["user"] = "someone"
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return path


def plugin(folder: Path, *credentials: dict[str, str]) -> str:
    """An exec plugin that prints the next of ``credentials`` each time it runs (then the last one again)."""
    script = folder / "credential-plugin"
    state = folder / "calls"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib\n"
        f"state = pathlib.Path({str(state)!r})\n"
        "calls = int(state.read_text()) if state.exists() else 0\n"
        "state.write_text(str(calls + 1))\n"
        f"credentials = {json.dumps(list(credentials))}\n"
        "status = credentials[min(calls, len(credentials) - 1)]\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential', "
        "'status': status}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def exec_user(command: str) -> dict[str, Any]:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": command, "interactiveMode": "Never"}}


def deployed(mlctl: Mlctl, kubeconfig: Path) -> None:
    result = mlctl("deploy", HELLO, "-o", "json", kubeconfig=kubeconfig)
    assert result.code == 0, result
    assert [(a["kind"], a["action"]) for a in result.json()["applied"]] == [("ConfigMap", "created")]


def test_a_bearer_token(mlctl: Mlctl, kubeconfig: Path, tmp_path: Path, token: str) -> None:
    deployed(mlctl, kubeconfig_with(kubeconfig, tmp_path, {"token": token}))


def test_a_token_file_relative_to_the_kubeconfig(mlctl: Mlctl, kubeconfig: Path, tmp_path: Path, token: str) -> None:
    (tmp_path / "token").write_text(token + "\n")
    deployed(mlctl, kubeconfig_with(kubeconfig, tmp_path, {"tokenFile": "token"}))


def test_an_exec_plugin_asked_again_after_a_401(mlctl: Mlctl, kubeconfig: Path, tmp_path: Path, token: str) -> None:
    command = plugin(tmp_path, {"token": "expired-or-revoked"}, {"token": token})

    deployed(mlctl, kubeconfig_with(kubeconfig, tmp_path, exec_user(command)))

    assert (tmp_path / "calls").read_text() == "2"


def test_an_exec_plugin_that_gives_a_client_certificate(mlctl: Mlctl, kubeconfig: Path, tmp_path: Path) -> None:
    admin = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    certificate = {
        "clientCertificateData": base64.b64decode(admin["client-certificate-data"]).decode(),
        "clientKeyData": base64.b64decode(admin["client-key-data"]).decode(),
    }
    command = plugin(tmp_path, certificate)

    deployed(mlctl, kubeconfig_with(kubeconfig, tmp_path, exec_user(command)))


def test_a_legacy_auth_provider_goes_through_the_official_client(
    mlctl: Mlctl, kubeconfig: Path, tmp_path: Path, token: str
) -> None:
    # the oidc provider sends its id-token as is while it has not expired; a service-account token is a JWT
    provider = {"name": "oidc", "config": {"id-token": token, "client-id": "mlctl", "idp-issuer-url": "https://idp"}}
    deployed(mlctl, kubeconfig_with(kubeconfig, tmp_path, {"auth-provider": provider}))


def test_a_wrong_token_is_refused_with_exit_4(mlctl: Mlctl, kubeconfig: Path, tmp_path: Path) -> None:
    result = mlctl("deploy", HELLO, kubeconfig=kubeconfig_with(kubeconfig, tmp_path, {"token": "not-a-token"}))

    assert result.code == 4, result
    assert "did not accept your credentials (401)" in result.stderr
    assert "not-a-token" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
