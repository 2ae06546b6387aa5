"""dask functions through the real Dask Kubernetes operator (the ``dask-kubernetes`` package's kopf controller).

The operator runs in the testbed: from the DaskCluster mlctl deploys it makes
the scheduler Deployment and Service and the default DaskWorkerGroup, whose
worker Deployment kwok's nodes then run; it adopts the DaskAutoscaler. kwok
runs no Dask scheduler, so when the operator's autoscaler asks the scheduler
how many workers it wants, a stand-in on 127.0.0.1 answers with the number a
test sets (``Testbed.set_dask_target``); the operator's own code clamps it to
the autoscaler's bounds and scales the worker group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.testbed import Testbed
from tests.integration.support import Kube, Mlctl, wait_for

pytest_plugins = ["tests.integration.fixtures"]

GROUP, VERSION = "kubernetes.dask.org", "v1"
CLUSTER = "itest-crunch"


def dask_spec(folder: Path, **spec: Any) -> Path:
    body = {"image": "daskdev/dask:latest", "min_replicas": 2, "max_replicas": 4, **spec}
    path = folder / "crunch.yaml"
    path.write_text(
        yaml.safe_dump(
            {"kind": "dask", "metadata": {"name": "crunch", "project": "itest"}, "spec": body}, sort_keys=False
        )
    )
    return path


def running_pods(kube: Kube, component: str) -> list[Any]:
    selector = f"dask.org/cluster-name={CLUSTER},dask.org/component={component}"
    pods = kube.core.list_namespaced_pod(kube.namespace, label_selector=selector).items
    return [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]


def custom(kube: Kube, plural: str) -> list[dict[str, Any]]:
    return list(kube.custom.list_namespaced_custom_object(GROUP, VERSION, kube.namespace, plural)["items"])


def test_the_operator_brings_up_a_deployed_dask_cluster_and_diff_is_clean(
    mlctl: Mlctl, kube: Kube, tmp_path: Path
) -> None:
    spec = dask_spec(tmp_path)

    deployed = mlctl("deploy", str(spec))

    assert deployed.code == 0, deployed
    assert wait_for(lambda: len(running_pods(kube, "scheduler")) == 1, "the operator's scheduler pod", timeout=90)
    assert wait_for(lambda: len(running_pods(kube, "worker")) == 2, "min_replicas worker pods", timeout=90)
    (service,) = kube.core.list_namespaced_service(kube.namespace, label_selector="dask.org/component=scheduler").items
    assert service.metadata.name == f"{CLUSTER}-scheduler"
    (group,) = custom(kube, "daskworkergroups")
    assert group["metadata"]["name"] == f"{CLUSTER}-default"
    assert group["spec"]["worker"]["replicas"] == 2
    (autoscaler,) = custom(kube, "daskautoscalers")
    assert (autoscaler["spec"]["minimum"], autoscaler["spec"]["maximum"]) == (2, 4)
    assert wait_for(
        lambda: (
            [o["kind"] for o in custom(kube, "daskautoscalers")[0]["metadata"].get("ownerReferences", [])]
            == ["DaskCluster"]
        ),
        "the operator to adopt the DaskAutoscaler into its cluster",
        timeout=60,
    )

    same = mlctl("diff", str(spec))

    assert same.code == 0, same
    assert "no differences" in same.stderr


def worker_replicas(kube: Kube) -> int:
    (group,) = custom(kube, "daskworkergroups")
    return int(group["spec"]["worker"]["replicas"])


@pytest.mark.long
def test_the_operator_autoscales_workers_within_min_and_max_replicas(
    mlctl: Mlctl, kube: Kube, testbed: Testbed, tmp_path: Path
) -> None:
    spec = dask_spec(tmp_path, min_replicas=2, max_replicas=3)
    assert mlctl("deploy", str(spec)).code == 0
    assert wait_for(lambda: len(running_pods(kube, "worker")) == 2, "min_replicas worker pods", timeout=90)

    testbed.set_dask_target(kube.namespace, CLUSTER, 10)  # the scheduler wants ten workers

    assert wait_for(lambda: len(running_pods(kube, "worker")) == 3, "max_replicas worker pods", timeout=60)
    assert worker_replicas(kube) == 3  # clamped to max_replicas, not ten

    testbed.set_dask_target(kube.namespace, CLUSTER, 0)  # and then none (after the operator's 15 s cool-down)

    assert wait_for(lambda: len(running_pods(kube, "worker")) == 2, "back to min_replicas worker pods", timeout=60)
    assert worker_replicas(kube) == 2  # clamped to min_replicas, not zero


def test_delete_removes_the_dask_cluster_and_everything_the_operator_made(
    mlctl: Mlctl, kube: Kube, tmp_path: Path
) -> None:
    spec = dask_spec(tmp_path)
    assert mlctl("deploy", str(spec)).code == 0
    wait_for(lambda: len(running_pods(kube, "worker")) == 2, "the workers", timeout=90)

    result = mlctl("delete", "crunch")

    assert result.code == 0, result
    assert wait_for(
        lambda: not any(custom(kube, plural) for plural in ("daskclusters", "daskworkergroups", "daskautoscalers")),
        "the Dask objects to go",
        timeout=60,
    )
    assert wait_for(
        lambda: not [w for w in kube.written() if not w.startswith("pod/")],
        "the operator's Deployments and Service to go",
        timeout=60,
    )
    assert wait_for(lambda: not kube.pods(), "the scheduler and worker pods to go", timeout=60)
