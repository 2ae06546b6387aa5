"""The commands that must start fast never import the Kubernetes client.

Run in a fresh interpreter: this test process has imported ``kubernetes``
already (``conftest.py`` disarms it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.unit.support import EXAMPLES, REPO

PROBE = textwrap.dedent("""
    import json, sys
    from mlctl.cli import main
    code = main.invoke(sys.argv[1:])
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"kubernetes", "urllib3", "kubernetes_validate"})
    print(json.dumps({"code": int(code), "heavy": heavy}), file=sys.__stderr__)
""")


def imported_by(*args: str, cwd: Path) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, check=False)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], report["heavy"]


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("validate", "{spec}"),
        ("validate", "-o", "json", "{spec}"),
        ("render", "{spec}", "--run-id", "r1"),
        ("render", "{spec}", "-o", "json", "--function"),
        ("set-env", "{copy}", "A=1"),
        ("set-resources", "{copy}", "--requests", "cpu=1", "--dry-run"),
        ("mount", "{copy}", "pvc", "claim", "/data"),
        ("new", "job", "fresh"),
        ("config", "show"),
    ],
    ids=lambda a: " ".join(a).replace("{spec}", "spec").replace("{copy}", "spec"),
)
def test_command_does_not_import_the_kubernetes_client(args: tuple[str, ...], tmp_path: Path) -> None:
    spec = EXAMPLES / "hello.yaml"
    copy = tmp_path / "hello.yaml"
    copy.write_text(spec.read_text(encoding="utf-8"), encoding="utf-8")

    code, heavy = imported_by(*(a.format(spec=spec, copy=copy) for a in args), cwd=REPO)

    assert code == 0
    assert heavy == []


def test_the_probe_sees_an_import_of_the_client(tmp_path: Path) -> None:
    probe = PROBE.replace("code = main.invoke", "import kubernetes.client\ncode = main.invoke")
    done = subprocess.run(
        [sys.executable, "-c", probe, "--help"], capture_output=True, text=True, cwd=REPO, check=False
    )

    assert "kubernetes" in json.loads(done.stderr.strip().splitlines()[-1])["heavy"]


def test_the_unit_tier_cannot_connect_to_a_cluster(tmp_path: Path) -> None:
    import kubernetes.client
    import kubernetes.config

    from mlctl.cluster import client

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    with pytest.raises(RuntimeError, match="unit tests run without a cluster"):
        kubernetes.client.ApiClient()
    with pytest.raises(RuntimeError, match="unit tests run without a cluster"):
        kubernetes.config.load_kube_config()
    with pytest.raises(RuntimeError, match="unit tests run without a cluster"):
        client.connect(str(kubeconfig))
