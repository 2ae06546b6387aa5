"""Offline schema checks of rendered manifests, shared by the render tests.

Built-in kinds go to ``kubernetes_validate`` (the API server's OpenAPI for one
Kubernetes version, strict: an unknown field is an error). Custom resources go
to the ``openAPIV3Schema`` of their CRD in ``tests/cluster/crds``, with unknown
fields refused wherever the CRD does not preserve them (what the API server's
strict field validation does), and their metadata checked as an ObjectMeta.
The NuclioFunction CRD says nothing about its spec, so the Kubernetes-typed
parts of one (env, resources, volumes, placement) are checked as parts of a Pod.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from jsonschema import Draft7Validator

KUBERNETES_VERSION = "1.34"
CRD_DIR = Path(__file__).resolve().parents[2] / "tests" / "cluster" / "crds"
CUSTOM_GROUPS = {"kubeflow.org", "kubernetes.dask.org", "nuclio.io", "sparkoperator.k8s.io"}


def _strict(node: Any) -> Any:
    """An OpenAPI v3 CRD schema as JSON Schema that refuses unknown fields."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON Schema, for every CRD version in tests/cluster/crds."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                schema = _strict(schema)
                # the API server always takes these, whatever the CRD lists
                for field, shape in (("apiVersion", "string"), ("kind", "string"), ("metadata", "object")):
                    schema.setdefault("properties", {}).setdefault(field, {"type": shape})
                found[(f"{group}/{version['name']}", kind)] = schema
    return found


def _builtin(obj: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        return [f"{obj['kind']} {obj['metadata'].get('name')}: {where}: {exc.message}"]
    return []


def _metadata(obj: dict[str, Any]) -> list[str]:
    holder = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata") or {}}
    return [p.replace("ConfigMap", obj["kind"], 1) for p in _builtin(holder)]


def _nuclio_parts(obj: dict[str, Any]) -> list[str]:
    spec = obj["spec"]
    container: dict[str, Any] = {"name": "function", "image": "nuclio"}
    for key in ("env", "resources"):
        if key in spec:
            container[key] = copy.deepcopy(spec[key])
    pod_spec: dict[str, Any] = {"containers": [container]}
    pairs = spec.get("volumes") or []
    if pairs:
        pod_spec["volumes"] = []
        for pair in pairs:
            if pair["volume"] not in pod_spec["volumes"]:
                pod_spec["volumes"].append(pair["volume"])
        container["volumeMounts"] = [pair["volumeMount"] for pair in pairs]
    for key in ("nodeSelector", "nodeName", "affinity", "tolerations", "priorityClassName"):
        if key in spec:
            pod_spec[key] = copy.deepcopy(spec[key])
    pod_spec["containers"] += [copy.deepcopy(s) for s in spec.get("sidecars") or []]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": obj["metadata"]["name"]}, "spec": pod_spec}
    return _builtin(pod)


def problems(obj: dict[str, Any]) -> list[str]:
    """What the API server (with strict field validation) would refuse in ``obj``."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    schema = crd_schemas().get(key)
    if schema is None:
        if key[0].split("/")[0] in CUSTOM_GROUPS:
            return [f"no CRD schema for {key[0]} {key[1]} in {CRD_DIR}"]
        return _builtin(obj)
    found = [
        f"{key[1]} {obj['metadata'].get('name')}: {'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in Draft7Validator(schema).iter_errors(obj)
    ]
    found += _metadata(obj)
    if key[1] == "NuclioFunction":
        found += _nuclio_parts(obj)
    return found


def check(objects: list[dict[str, Any]]) -> None:
    """Assert every object is one the API server accepts."""
    found = [p for obj in objects for p in problems(obj)]
    assert not found, "\n".join(found)


def has_crd(api_version: str, kind: str) -> bool:
    return (api_version, kind) in crd_schemas()
