"""Nuclio kinds on plain Kubernetes (``--engine kubernetes``): Deployment, Service, HPA.

For clusters without Nuclio. The function's handler runs in the image through
``mlctl/payloads/nuclio_shim.py`` (shipped with the code in a ConfigMap), which
answers HTTP the way Nuclio's HTTP trigger would; an ``application`` runs its
own image on ``internal_application_port``. Scaling follows the same spec
fields as under Nuclio: ``replicas`` fixes the count; otherwise an
``autoscaling/v2`` HorizontalPodAutoscaler keeps between ``min_replicas``
and ``max_replicas`` pods at the target CPU utilisation (``spec.config``
``spec.targetCPU``, default 75%, a percentage of the CPU request).

Not supported here, and refused rather than dropped: triggers other than
HTTP. Build steps (``build.commands``) do not run: the image must hold what
the code imports. Pure: no cluster access, no kubernetes import.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from mlctl import payloads
from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.kube import labels as kube_labels
from mlctl.render import pod as pod_
from mlctl.render import serving
from mlctl.render.context import RenderContext
from mlctl.spec.model import FunctionSpec, k8s_name

PORT = 8080
SHIM = "nuclio_shim.py"
SERVE_ENV = "MLCTL_SERVE"


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    pod = serving.function_pod(fn, config, ctx.namespace)
    objects: list[dict[str, Any]] = list(pod.extra_objects)
    other = sorted(name for name, t in serving.triggers(fn).items() if t.get("kind") != "http")
    if other:
        raise InvalidInput(
            f"{fn.source}: trigger(s) {', '.join(other)} need Nuclio; --engine kubernetes serves HTTP only"
        )
    container = dict(pod.container)
    spec = dict(pod.spec)
    env = list(container.get("env", []))
    volumes = list(spec.get("volumes", []))
    mounts = list(container.get("volumeMounts", []))
    if fn.kind == "application":
        port = _application(fn, container)
    else:
        port = PORT
        code_env, code_volumes, code_mounts, code_objects = _handler(fn, ctx.namespace, container)
        env += code_env
        volumes += code_volumes
        mounts += code_mounts
        objects += code_objects
    container["image"] = fn.image or str(config.get("default_image"))
    container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    container["readinessProbe"] = {"tcpSocket": {"port": "http"}, "periodSeconds": 5}
    for key, value in (("env", env), ("volumeMounts", mounts)):
        container.pop(key, None)
        if value:
            container[key] = value
    spec.pop("volumes", None)
    if volumes:
        spec["volumes"] = volumes
    return objects + _workload(fn, ctx.namespace, pod, {**spec, "containers": [ordered(container)]}, port)


def _application(fn: FunctionSpec, container: dict[str, Any]) -> int:
    """The application image runs as it is, on its own port."""
    if not fn.image:
        raise InvalidInput(f"{fn.source}: an application function needs spec.image (the application to run)")
    command = str(fn.get("command") or "")
    if command:
        container["command"] = shlex.split(command)
    if fn.get("args"):
        container["args"] = [str(a) for a in fn.get("args")]
    return int(fn.get("internal_application_port") or serving.DEFAULT_APPLICATION_PORT)


def _handler(fn: FunctionSpec, namespace: str, container: dict[str, Any]) -> tuple[list[Any], ...]:
    """The shim serves the handler: (env, volumes, mounts, objects) it needs, the command set on ``container``."""
    code = serving.source_code(fn)
    if code is None:
        raise InvalidInput(
            f"{fn.source}: no code to serve (spec.build.functionSourceCode or base_spec); "
            "a ready Nuclio image needs --engine nuclio"
        )
    module, _, function = serving.handler(fn).partition(":")
    code_map = _code_config_map(fn, namespace, module, code)
    volumes = [{"name": pod_.CODE_VOLUME, "configMap": {"name": code_map["metadata"]["name"]}}]
    mounts = [{"name": pod_.CODE_VOLUME, "mountPath": pod_.CODE_MOUNT, "readOnly": True}]
    settings = {
        "code": f"{pod_.CODE_MOUNT}/{module}.py",
        "handler": f"{module}:{function or 'handler'}",
        "port": PORT,
        "workers": serving.http_workers(fn),
    }
    env = [{"name": SERVE_ENV, "value": json.dumps(settings, sort_keys=True)}]
    container["command"] = ["python", f"{pod_.CODE_MOUNT}/{SHIM}"]
    objects = [code_map]
    if fn.kind == "serving":
        serving_env, serving_volumes, serving_mounts, serving_objects = serving.serving_spec_delivery(fn, namespace)
        env += serving_env
        volumes += serving_volumes
        mounts += serving_mounts
        objects += serving_objects
    return env, volumes, mounts, objects


def _workload(
    fn: FunctionSpec, namespace: str, pod: pod_.Pod, pod_spec: dict[str, Any], port: int
) -> list[dict[str, Any]]:
    """The Service and the Deployment running ``pod_spec``, and the autoscaler when replicas may vary."""
    name = fn.full_name
    labels = dict(pod.labels)
    selector = {k: v for k, v in pod.labels.items() if k.startswith(kube_labels.PREFIX) or k == kube_labels.NAME}
    template_meta: dict[str, Any] = {"labels": labels}
    if pod_.pod_annotations(fn):  # the function's annotations reach its pods
        template_meta["annotations"] = pod_.pod_annotations(fn)
    low, high = serving.replica_bounds(fn)
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"selector": {"matchLabels": selector}, "template": {"metadata": template_meta, "spec": pod_spec}},
    }
    service_spec: dict[str, Any] = {
        "type": str(fn.get("service_type") or serving.DEFAULT_SERVICE_TYPE),
        "selector": selector,
        "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": service_spec,
    }
    objects = [service, deployment]
    if high > max(low, 1):
        # With a range, the HPA owns the count: no replicas in the applied Deployment (as Kubernetes'
        # HPA documentation asks), so a redeploy leaves the count the HPA chose, and diff sees no drift.
        # The HPA raises a new Deployment's default single replica to its minimum at once.
        objects.append(_autoscaler(fn, name, namespace, labels, max(low, 1), high))
    else:
        deployment["spec"] = {"replicas": max(low, 1), **deployment["spec"]}  # a fixed count is mlctl's to keep
    return objects


# the order people read a container in
_CONTAINER_ORDER = (
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "ports",
    "env",
    "resources",
    "volumeMounts",
    "readinessProbe",
    "securityContext",
)


def ordered(container: dict[str, Any]) -> dict[str, Any]:
    """``container`` with its fields in reading order (unknown ones last, as they were)."""
    first = {k: container[k] for k in _CONTAINER_ORDER if k in container}
    return {**first, **{k: v for k, v in container.items() if k not in first}}


def _autoscaler(
    fn: FunctionSpec, name: str, namespace: str, labels: dict[str, str], low: int, high: int
) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": serving.target_cpu(fn)},
                    },
                }
            ],
        },
    }


def _code_config_map(fn: FunctionSpec, namespace: str, module: str, code: str) -> dict[str, Any]:
    shim = payloads.source(SHIM)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": k8s_name(fn.full_name, "code"), "namespace": namespace, "labels": pod_.labels(fn)},
        "data": {SHIM: shim, f"{module}.py": code},
    }
