"""Serving on the kubernetes engine: the HPA scales on real CPU metrics.

metrics-server runs in the testbed behind the metrics.k8s.io APIService and
reads each fake node's ``/metrics/resource`` from kwok's kubelet server; the
CPU the pods use is set with ``Testbed.set_cpu_usage``. The controller
manager's HPA acts every 2s and scales down after 5s of stability, so a
test sees both directions in about a minute.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.cluster.testbed import Testbed
from tests.integration.support import Kube, Mlctl, wait_for

pytest_plugins = ["tests.integration.fixtures"]

MIN, MAX = 2, 4
REQUEST = {"cpu": "200m", "memory": "128Mi"}


def serving_spec(folder: Path) -> Path:
    body = {
        "image": "python:3.11-slim",
        "min_replicas": MIN,
        "max_replicas": MAX,
        "config": {"spec.targetCPU": 50},
        "resources": {"requests": REQUEST, "limits": REQUEST},
    }
    path = folder / "predictor.yaml"
    path.write_text(
        yaml.safe_dump(
            {"kind": "serving", "metadata": {"name": "predictor", "project": "itest"}, "spec": body}, sort_keys=False
        )
    )
    return path


def deployment(kube: Kube) -> Any:
    (found,) = kube.apps.list_namespaced_deployment(kube.namespace).items
    return found


def hpa(kube: Kube) -> Any:
    (found,) = client.AutoscalingV2Api(kube.api).list_namespaced_horizontal_pod_autoscaler(kube.namespace).items
    return found


def pod_metrics(kube: Kube) -> list[dict[str, Any]]:
    listing = kube.custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", kube.namespace, "pods")
    return list(listing["items"])


@pytest.mark.long
def test_cpu_above_target_scales_to_max_and_below_back_to_min(
    mlctl: Mlctl, kube: Kube, testbed: Testbed, tmp_path: Path
) -> None:
    spec = serving_spec(tmp_path)
    testbed.set_cpu_usage(kube.namespace, "20m")  # 10% of the request: below the 50% target
    deployed = mlctl("deploy", str(spec), "--engine", "kubernetes", "--wait", "--timeout", "60s")
    assert deployed.code == 0, deployed
    assert deployment(kube).spec.replicas == MIN
    wait_for(lambda: len(pod_metrics(kube)) == MIN, "metrics-server to report the pods' usage", timeout=90)

    testbed.set_cpu_usage(kube.namespace, "400m")  # 200% of the request
    seen: list[int] = []

    def at_max() -> bool:
        seen.append(deployment(kube).spec.replicas)
        return hpa(kube).status.current_replicas == MAX and deployment(kube).status.available_replicas == MAX

    assert wait_for(at_max, f"the HPA to scale up to max_replicas ({MAX})", timeout=150, every=1)
    # a redeploy while the HPA holds the Deployment at MAX does not pull it back to MIN
    redeployed = mlctl("deploy", str(spec), "--engine", "kubernetes")
    assert redeployed.code == 0, redeployed
    after_redeploy = []
    for _ in range(6):  # three of the HPA's 2 s cycles
        after_redeploy.append(deployment(kube).spec.replicas)
        time.sleep(1)
    assert after_redeploy == [MAX] * 6, f"replicas after the redeploy: {after_redeploy}"
    assert max(seen) == MAX, f"replicas while scaling up: {seen}"  # never past max_replicas

    testbed.set_cpu_usage(kube.namespace, "10m")

    assert wait_for(
        lambda: deployment(kube).spec.replicas == MIN and hpa(kube).status.current_replicas == MIN,
        f"the HPA to scale back down to min_replicas ({MIN})",
        timeout=150,
        every=1,
    )
    assert mlctl("diff", str(spec), "--engine", "kubernetes").code == 0
