"""The other runtimes on the real control plane: SparkApplication runs, and
serving on plain Kubernetes (Deployment + Service + HPA).

The Spark operator cannot be built here (its module is not served), so only
its CRD is installed: a test plays the operator and creates the driver pod
from the SparkApplication, as the operator would, so mlctl's classification
meets real pods that the scheduler and kwok move through their states. MPIJob
runs meet the real MPI Operator (test_mpi_operator.py), and the HPA's scaling
on real metrics is in test_serving_autoscaling.py.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.integration import support

pytest_plugins = ["tests.integration.fixtures"]

CODE = base64.b64encode(b"def handler(context=None):\n    return 1\n").decode()


def _spec(folder: Path, kind: str, name: str, labels: dict[str, str] | None = None, **spec: Any) -> Path:
    body: dict[str, Any] = {
        "image": "python:3.11-slim",
        "default_handler": "handler",
        "build": {"functionSourceCode": CODE, "origin_filename": f"{name}.py"},
        **spec,
    }
    metadata: dict[str, Any] = {"name": name, "project": "itest"}
    if labels:
        metadata["labels"] = labels
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"kind": kind, "metadata": metadata, "spec": body}, sort_keys=False))
    return path


def _play_operator(kube: support.Kube, template: dict[str, Any], name: str, extra_labels: dict[str, str]) -> None:
    """Create one pod from a run object's pod template, as its operator would."""
    metadata = copy.deepcopy(template.get("metadata") or {})
    metadata["name"] = name
    metadata.setdefault("labels", {}).update(extra_labels)
    spec = copy.deepcopy(template["spec"])
    spec.setdefault("restartPolicy", "Never")
    kube.core.create_namespaced_pod(
        kube.namespace, {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    )


def test_an_attached_spark_run_ends_when_its_application_completes(
    mlctl: support.Mlctl, spawn: support.Spawner, kube: support.Kube, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, "spark", "etl", replicas=2, service_account="default")

    attached = spawn("run", str(spec), "-o", "json", label="spark-run")
    app = support.wait_for(
        lambda: next(
            iter(
                kube.custom.list_namespaced_custom_object(
                    "sparkoperator.k8s.io", "v1beta2", kube.namespace, "sparkapplications"
                )["items"]
            ),
            None,
        ),
        "the SparkApplication",
    )
    run_id = app["metadata"]["labels"]["mlctl.io/run-id"]
    assert app["spec"]["executor"]["instances"] == 2
    driver = {
        "metadata": {
            "labels": {**app["metadata"]["labels"], "spark-role": "driver"},
            "annotations": app["metadata"].get("annotations", {}),
        },
        "spec": {
            "containers": [{"name": "spark-kubernetes-driver", "image": app["spec"]["image"]}],
            "serviceAccountName": "default",
        },
    }
    _play_operator(kube, driver, f"{app['metadata']['name']}-driver", {})
    support.wait_for(
        lambda: (
            kube.core.read_namespaced_pod(f"{app['metadata']['name']}-driver", kube.namespace).status.phase
            == "Succeeded"
        ),
        "the driver to succeed",
    )
    # the operator then records the application's outcome; the run ends on that, not on the driver pod
    kube.custom.patch_namespaced_custom_object_status(
        "sparkoperator.k8s.io",
        "v1beta2",
        kube.namespace,
        "sparkapplications",
        app["metadata"]["name"],
        {"status": {"applicationState": {"state": "COMPLETED"}, "driverInfo": {}}},
    )

    result = attached.wait(timeout=60)

    assert result.code == 0, result
    assert result.json()["state"] == "completed"
    assert result.json()["run_id"] == run_id


def test_serving_on_plain_kubernetes_scales_within_its_bounds(
    mlctl: support.Mlctl, kube: support.Kube, tmp_path: Path
) -> None:
    spec = _spec(
        tmp_path,
        "serving",
        "predictor",
        min_replicas=2,
        max_replicas=5,
        config={"spec.targetCPU": 60},
        resources={"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}},
    )

    deployed = mlctl("deploy", str(spec), "--engine", "kubernetes", "--wait", "--timeout", "60s")

    assert deployed.code == 0, deployed
    autoscaling = client.AutoscalingV2Api(kube.api)
    (hpa,) = autoscaling.list_namespaced_horizontal_pod_autoscaler(kube.namespace).items
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 5)
    assert hpa.spec.metrics[0].resource.target.average_utilization == 60
    (deployment,) = kube.apps.list_namespaced_deployment(kube.namespace).items
    assert deployment.status.available_replicas == 2
    assert hpa.spec.scale_target_ref.name == deployment.metadata.name
    (service,) = [
        s
        for s in kube.core.list_namespaced_service(kube.namespace).items
        if s.metadata.name == deployment.metadata.name
    ]
    assert service.spec.selector == deployment.spec.selector.match_labels
