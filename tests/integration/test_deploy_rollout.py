"""``deploy --wait`` on plain Kubernetes waits for the rollout, and an HPA keeps the replica count it chose."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.integration import support

pytest_plugins = ["tests.integration.fixtures"]

CODE = base64.b64encode(b"def handler(context, event):\n    return 'ok'\n").decode()


def serving(folder: Path, labels: dict[str, str] | None = None, **spec: Any) -> Path:
    metadata: dict[str, Any] = {
        "name": "predictor",
        "project": "itest",
        "annotations": {"example.com/owner": "ana"},
        "labels": {"team": "vision", **(labels or {})},
    }
    body = {
        "image": "python:3.11-slim",
        "default_handler": "handler",
        "build": {"functionSourceCode": CODE, "origin_filename": "predictor.py"},
        **spec,
    }
    path = folder / "predictor.yaml"
    path.write_text(yaml.safe_dump({"kind": "serving", "metadata": metadata, "spec": body}, sort_keys=False))
    return path


def test_a_rollout_whose_new_pods_cannot_pull_their_image_fails_the_wait_with_the_reason(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    first = mlctl("deploy", str(serving(tmp_path, replicas=2)), "--engine", "kubernetes", "--wait", "--timeout", "60s")
    assert first.code == 0, first

    broken = serving(tmp_path, labels={"mlctl.test/behavior": "image-pull-backoff"}, replicas=2)
    started = time.monotonic()
    second = mlctl("deploy", str(broken), "--engine", "kubernetes", "--wait", "--timeout", "40s")
    took = time.monotonic() - started

    assert second.code == 4, second  # failed with the reason, not a --timeout (7) and not a success
    assert "cannot roll out" in second.stderr and "ImagePullBackOff" in second.stderr
    assert took < 30, second


def test_every_pod_of_a_deployed_function_carries_its_labels_and_annotations(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    spec = serving(tmp_path, replicas=1)
    deployed = mlctl("deploy", str(spec), "--engine", "kubernetes", "--wait", "--timeout", "60s")
    assert deployed.code == 0, deployed

    (pod,) = kube.core.list_namespaced_pod(kube.namespace, label_selector="mlctl.io/function=predictor").items
    assert pod.metadata.labels["team"] == "vision"
    assert pod.metadata.annotations["example.com/owner"] == "ana"


def test_an_unchanged_redeploy_leaves_the_replica_count_to_the_hpa(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    spec = serving(
        tmp_path,
        min_replicas=2,
        max_replicas=5,
        resources={"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}},
    )
    first = mlctl("deploy", str(spec), "--engine", "kubernetes", "--wait", "--timeout", "60s")
    assert first.code == 0, first
    (deployment,) = kube.apps.list_namespaced_deployment(kube.namespace).items
    name = deployment.metadata.name
    assert deployment.spec.replicas == 2
    # the HPA scales the function out under load (as its controller does, through the scale subresource)
    autoscaling = client.AutoscalingV1Api(kube.api)
    kube.apps.patch_namespaced_deployment_scale(name, kube.namespace, {"spec": {"replicas": 5}})
    support.wait_for(
        lambda: (kube.apps.read_namespaced_deployment(name, kube.namespace).status.available_replicas or 0) == 5,
        "five replicas",
    )

    again = mlctl("deploy", str(spec), "--engine", "kubernetes", "--wait", "--timeout", "60s")
    drift = mlctl("diff", str(spec), "--engine", "kubernetes")

    assert again.code == 0, again
    assert kube.apps.read_namespaced_deployment(name, kube.namespace).spec.replicas == 5
    assert drift.code == 0, drift
    assert autoscaling.read_namespaced_horizontal_pod_autoscaler(name, kube.namespace).spec.min_replicas == 2


def test_a_fixed_replica_count_is_put_back_by_a_redeploy(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    spec = serving(tmp_path, replicas=2)
    assert mlctl("deploy", str(spec), "--engine", "kubernetes").code == 0
    (deployment,) = kube.apps.list_namespaced_deployment(kube.namespace).items
    kube.apps.patch_namespaced_deployment_scale(deployment.metadata.name, kube.namespace, {"spec": {"replicas": 4}})

    again = mlctl("deploy", str(spec), "--engine", "kubernetes")

    assert again.code == 0, again
    assert kube.apps.read_namespaced_deployment(deployment.metadata.name, kube.namespace).spec.replicas == 2


def test_a_function_given_a_replica_range_keeps_its_count_when_the_hpa_takes_over(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    fixed = mlctl("deploy", str(serving(tmp_path, replicas=3)), "--engine", "kubernetes", "--wait", "--timeout", "60s")
    assert fixed.code == 0, fixed
    (deployment,) = kube.apps.list_namespaced_deployment(kube.namespace).items

    ranged = serving(tmp_path, min_replicas=2, max_replicas=5)
    again = mlctl("deploy", str(ranged), "--engine", "kubernetes", "--wait", "--timeout", "60s")

    assert again.code == 0, again
    assert kube.apps.read_namespaced_deployment(deployment.metadata.name, kube.namespace).spec.replicas == 3
