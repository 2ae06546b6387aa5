"""Settings an admin keeps in the cluster (a ConfigMap), below the user's own config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration import support

pytest_plugins = ["tests.integration.fixtures"]

PROFILE = {
    "preemptible_nodes": {
        "node_selector": {"node-lifecycle": "spot"},
        "tolerations": [support.SPOT_TOLERATION],
    },
    "valid_function_priority_class_names": "low,high",
}


@pytest.fixture
def admin_settings(kube: support.Kube, monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    kube.core.create_namespaced_config_map(
        kube.namespace,
        {
            "metadata": {"name": "mlctl-config"},
            "data": {"config.yaml": yaml.safe_dump(PROFILE)},
        },
    )
    monkeypatch.setenv("MLCTL_CLUSTER_CONFIG_MAP", f"{kube.namespace}/mlctl-config")


def test_the_preemptible_profile_set_by_an_admin_marks_spot_nodes(admin_settings: None, mlctl: support.Mlctl) -> None:
    listed = mlctl("nodes", "-o", "json", namespace=None)

    assert listed.code == 0, listed
    spot = {n["name"] for n in listed.json()["nodes"] if n["spot"]}
    assert spot == set(support.SPOT_NODES)


def test_config_show_names_the_cluster_as_the_origin(admin_settings: None, mlctl: support.Mlctl) -> None:
    shown = mlctl("config", "show", "--from-cluster", "-o", "json", namespace=None)

    assert shown.code == 0, shown
    origins = shown.json()["origins"]
    profile = {k: v for k, v in origins.items() if k.startswith("preemptible_nodes.node_selector")}
    assert profile and set(profile.values()) == {"cluster ConfigMap"}
    assert shown.json()["values"]["valid_function_priority_class_names"] == "low,high"


def test_the_users_own_config_wins_over_the_cluster(
    admin_settings: None, mlctl: support.Mlctl, monkeypatch: pytest.MonkeyPatch, kube: support.Kube, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLCTL_FUNCTION_DEFAULTS__PREEMPTION_MODE", "constrain")
    spec = support.job_spec(tmp_path, "spotty")

    ran = mlctl("run", str(spec), "-o", "json", "--timeout", "60s")

    assert ran.code == 0, ran
    (pod,) = kube.pods(ran.json()["run_id"])
    assert pod.spec.node_name in support.SPOT_NODES  # constrain (user) with the admin's profile


def test_a_priority_class_outside_the_admins_list_is_refused_before_anything_is_written(
    admin_settings: None, mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    spec = support.job_spec(tmp_path, "urgent", priority_class_name="medium")

    refused = mlctl("run", str(spec))

    assert refused.code == 3, refused
    assert "priority class 'medium' is not among the configured names" in refused.stderr
    assert "low, high" in refused.stderr
    assert kube.jobs() == []
