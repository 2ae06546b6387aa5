"""``mlctl deploy``, ``diff``, ``delete``, ``priority-classes``, ``nodes`` against a real API server.

Functions of kinds served by operators deploy too, their objects checked by
the server against the operators' CRDs. The MPI and Dask operators run in the
testbed (their own tests: test_mpi_operator.py, test_dask_operator.py); the
Spark operator and Nuclio do not, so their objects are stored and nothing acts
on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.support import (
    HANDLER,
    SPOT_NODES,
    Kube,
    Mlctl,
    job_spec,
)

pytest_plugins = ["tests.integration.fixtures"]

NUCLIO_HANDLER = 'def handler(context, event):\n    return "ok"\n'


def config_map(kube: Kube, name: str) -> Any:
    return next(
        (c for c in kube.core.list_namespaced_config_map(kube.namespace).items if c.metadata.name == name), None
    )


def write(folder: Path, name: str, document: dict[str, Any]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


# --------------------------------------------------------------------------- deploy, diff, delete


def test_deploying_twice_changes_nothing_the_second_time(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, "adder", code=HANDLER)

    first = mlctl("deploy", str(spec))
    second = mlctl("deploy", str(spec))

    assert first.code == 0, first
    assert "configmap/itest-adder-code created" in first.stderr
    assert second.code == 0, second
    assert "configmap/itest-adder-code unchanged" in second.stderr
    assert "no changes" in second.stderr
    assert "def handler" in config_map(kube, "itest-adder-code").data["adder.py"]


def test_diff_exits_0_when_the_cluster_matches_and_1_with_the_difference(mlctl: Mlctl, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, "adder", code=HANDLER)
    before_deploy = mlctl("diff", str(spec))
    assert before_deploy.code == 1, before_deploy
    assert "+++ spec/configmap/itest-adder-code" in before_deploy.stdout
    assert mlctl("deploy", str(spec)).code == 0

    same = mlctl("diff", str(spec))
    job_spec(tmp_path, "adder", code=HANDLER.replace("x + 1", "x + 2"))
    changed = mlctl("diff", str(spec))

    assert same.code == 0, same
    assert same.stdout == ""
    assert "no differences" in same.stderr
    assert changed.code == 1, changed
    assert "--- live/configmap/itest-adder-code" in changed.stdout
    lines = changed.stdout.splitlines()
    assert [line.split(maxsplit=1) for line in lines if "return" in line] == [
        ["-", 'return {"y": x + 1}'],
        ["+", 'return {"y": x + 2}'],
    ]


def test_delete_removes_what_deploy_created(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = job_spec(tmp_path, "adder", code=HANDLER)
    assert mlctl("deploy", str(spec)).code == 0

    by_file = mlctl("delete", str(spec))
    assert by_file.code == 0, by_file
    assert "configmap/itest-adder-code deleted" in by_file.stderr
    assert kube.written() == []

    assert mlctl("deploy", str(spec)).code == 0
    by_name = mlctl("delete", "adder")
    assert by_name.code == 0, by_name
    assert kube.written() == []
    nothing_left = mlctl("delete", "adder")
    assert nothing_left.code == 4, nothing_left
    assert "nothing deployed for function 'adder'" in nothing_left.stderr


def test_a_dry_run_on_the_client_prints_the_objects_and_writes_nothing(
    mlctl: Mlctl, kube: Kube, tmp_path: Path
) -> None:
    spec = job_spec(tmp_path, "adder", code=HANDLER)

    result = mlctl("deploy", str(spec), "--dry-run=client")

    assert result.code == 0, result
    [document] = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert (document["kind"], document["metadata"]["name"]) == ("ConfigMap", "itest-adder-code")
    assert "uid" not in document["metadata"]
    assert kube.written() == []


def test_a_dry_run_on_the_server_shows_the_servers_view_and_writes_nothing(
    mlctl: Mlctl, kube: Kube, tmp_path: Path
) -> None:
    spec = job_spec(tmp_path, "adder", code=HANDLER)

    result = mlctl("deploy", str(spec), "--dry-run=server", "-o", "json")

    assert result.code == 0, result
    [document] = result.json()["items"]
    assert document["metadata"]["name"] == "itest-adder-code"
    assert document["metadata"]["uid"]  # filled in by the API server
    assert document["metadata"]["managedFields"][0]["manager"] == "mlctl"
    assert kube.written() == []


def test_a_deploy_whose_runs_would_need_a_missing_priority_class_writes_nothing(
    mlctl: Mlctl, kube: Kube, tmp_path: Path
) -> None:
    spec = job_spec(tmp_path, "adder", code=HANDLER, priority_class_name="urgent")

    result = mlctl("deploy", str(spec))

    assert result.code == 4, result
    assert "PriorityClass 'urgent' does not exist" in result.stderr
    assert "nothing was written" in result.stderr
    assert kube.written() == []


def test_a_deploy_the_api_server_rejects_writes_nothing(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    good = job_spec(tmp_path, "adder", code=HANDLER)
    # mlctl passes affinity through as written; the API server refuses the Job a run would create
    term = {"matchExpressions": [{"key": "zone", "operator": "Sideways", "values": ["a"]}]}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}
    bad = job_spec(tmp_path, "sideways", affinity=affinity)

    result = mlctl("deploy", str(good), str(bad))

    assert result.code == 4, result
    assert 'Invalid value: "Sideways": not a valid selector operator' in result.stderr
    assert "nothing was written" in result.stderr
    assert kube.written() == []  # not even the good function's code


# --------------------------------------------------------------------------- kinds served by operators


def nuclio_spec(folder: Path) -> Path:
    import base64

    return write(
        folder,
        "echo",
        {
            "kind": "remote",
            "metadata": {"name": "echo", "project": "itest"},
            "spec": {
                "image": "python:3.11-slim",
                "default_handler": "handler",
                "build": {"functionSourceCode": base64.b64encode(NUCLIO_HANDLER.encode()).decode()},
                "min_replicas": 1,
                "max_replicas": 2,
            },
        },
    )


def applies_seen(api_client: Any) -> int:
    """How many server-side applies (dry runs included) the API server has answered so far."""
    response = api_client.rest_client.pool_manager.request("GET", f"{api_client.configuration.host}/metrics")
    assert response.status == 200
    metrics = response.data.decode()
    lines = [line for line in metrics.splitlines() if line.startswith("apiserver_request_total{")]
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in lines if 'verb="APPLY"' in line)


def test_a_deploy_of_settled_objects_sends_no_apply_and_a_hand_edit_is_put_back(
    mlctl: Mlctl, kube: Kube, tmp_path: Path, api_client: Any
) -> None:
    spec = nuclio_spec(tmp_path)
    assert mlctl("deploy", str(spec), "--engine", "kubernetes").code == 0
    before = applies_seen(api_client)

    again = mlctl("deploy", str(spec), "--engine", "kubernetes", "-o", "json")

    assert again.code == 0, again
    assert {a["action"] for a in again.json()["applied"]} == {"unchanged"}
    assert len(again.json()["applied"]) == 4
    assert applies_seen(api_client) == before  # no dry run, no write
    # another manager changes a value mlctl set, and adds a label of its own
    kube.core.patch_namespaced_config_map(
        "itest-echo-code", kube.namespace, {"data": {"main.py": "edited"}, "metadata": {"labels": {"team": "a"}}}
    )
    drifted = mlctl("diff", str(spec), "--engine", "kubernetes")
    assert drifted.code == 1, drifted
    assert "-  main.py: edited" in drifted.stdout
    before = applies_seen(api_client)
    repaired = mlctl("deploy", str(spec), "--engine", "kubernetes", "-o", "json")
    assert repaired.code == 0, repaired
    actions = {a["name"]: a["action"] for a in repaired.json()["applied"]}
    assert actions.pop("itest-echo-code") == "configured"
    assert set(actions.values()) == {"unchanged"}
    assert applies_seen(api_client) == before + 2  # the edited object's dry run and write
    assert mlctl("diff", str(spec), "--engine", "kubernetes").code == 0
    live = config_map(kube, "itest-echo-code")
    assert "def handler" in live.data["main.py"]
    assert live.metadata.labels["team"] == "a"  # not mlctl's to remove


def test_a_nuclio_function_deploys_as_a_nuclio_function_object(mlctl: Mlctl, kube: Kube, tmp_path: Path) -> None:
    spec = nuclio_spec(tmp_path)

    checked = mlctl("deploy", str(spec), "--dry-run=server")
    result = mlctl("deploy", str(spec))

    assert checked.code == 0, checked
    assert result.code == 0, result
    assert "nucliofunction/itest-echo created" in result.stderr
    assert kube.written() == ["nucliofunctions/itest-echo"]
    assert mlctl("deploy", str(spec)).code == 0
    assert mlctl("diff", str(spec)).code == 0
    assert mlctl("delete", str(spec)).code == 0
    assert kube.written() == []


def test_a_nuclio_function_on_the_kubernetes_engine_becomes_a_running_deployment(
    mlctl: Mlctl, kube: Kube, tmp_path: Path
) -> None:
    spec = nuclio_spec(tmp_path)

    result = mlctl("deploy", str(spec), "--engine", "kubernetes", "--wait", "--timeout", "60s")

    assert result.code == 0, result
    assert "deployment/itest-echo ready" in result.stderr
    assert {"configmap/itest-echo-code", "service/itest-echo", "deployment/itest-echo"} <= set(kube.written())
    assert mlctl("delete", "echo").code == 0
    assert not [w for w in kube.written() if not w.startswith("pod/")]


@pytest.mark.parametrize(
    ("kind", "spec", "stored"),
    [
        pytest.param(
            "mpijob",
            {"image": "mpioperator/openmpi:latest", "command": "python train.py", "replicas": 2},
            [],
            id="mpijob",
        ),
        pytest.param(
            "spark", {"image": "spark:3.5.0", "command": "local:///app/etl.py", "replicas": 2}, [], id="spark"
        ),
    ],
)
def test_functions_of_operator_kinds_pass_the_servers_checks_and_deploy(
    mlctl: Mlctl, kube: Kube, tmp_path: Path, kind: str, spec: dict[str, Any], stored: list[str]
) -> None:
    path = write(tmp_path, "fn", {"kind": kind, "metadata": {"name": "fn", "project": "itest"}, "spec": spec})

    checked = mlctl("deploy", str(path), "--dry-run=server")
    result = mlctl("deploy", str(path))

    assert checked.code == 0, checked
    assert result.code == 0, result
    assert sorted(kube.written()) == stored


# --------------------------------------------------------------------------- what the cluster offers


def test_priority_classes_lists_the_clusters_classes(mlctl: Mlctl) -> None:
    result = mlctl("priority-classes", "-o", "json", namespace=None)

    assert result.code == 0, result
    listed = result.json()
    assert {"low", "medium", "high"} <= set(listed["valid"])
    assert (listed["values"]["low"], listed["values"]["medium"], listed["values"]["high"]) == (1000, 10000, 100000)
    assert listed["default"] == ""


def test_priority_classes_keeps_to_the_configured_allow_list(mlctl: Mlctl, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCTL_VALID_FUNCTION_PRIORITY_CLASS_NAMES", "medium,high,missing")

    result = mlctl("priority-classes", namespace=None)

    assert result.code == 0, result
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert names == ["medium", "high"]


@pytest.mark.usefixtures("spot_profile")
def test_nodes_marks_the_spot_nodes_of_the_profile(mlctl: Mlctl) -> None:
    result = mlctl("nodes", "-o", "json", namespace=None)

    assert result.code == 0, result
    spot = {n["name"] for n in result.json()["nodes"] if n["spot"]}
    assert spot == SPOT_NODES
    gpus = {n["name"]: n["gpus"] for n in result.json()["nodes"]}
    assert gpus["gpu-1"] == 4


def test_nodes_without_a_profile_says_so_and_marks_no_node(mlctl: Mlctl) -> None:
    result = mlctl("nodes", namespace=None)

    assert result.code == 0, result
    assert "no preemptible-node profile configured" in result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert rows
    assert {row[1] for row in rows} == {"no"}
