"""The validated function, as frozen values: what renderers may rely on.

Built only from a document that passed validation, with config defaults
resolved (preemption mode, priority class, GPU type). Kind-specific keys
stay reachable through ``spec`` (read-only); the fields here are the ones
every Kubernetes kind shares. No Kubernetes client objects live here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mlctl.config import Config
from mlctl.errors import InvalidInput

_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def k8s_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label from name parts: lower case, '_' and others become '-'."""
    joined = "-".join(p for p in parts if p)
    name = _NOT_NAME.sub("-", joined.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    return name[:limit].rstrip("-") or "function"


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy of a frozen value (for manifests)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Code:
    """Source code embedded in the spec (``build.functionSourceCode``)."""

    text: str
    filename: str


@dataclass(frozen=True)
class FunctionSpec:
    kind: str
    name: str
    project: str
    tag: str
    image: str
    source: str
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]
    preemption_mode: str
    priority_class_name: str
    gpu_type: str
    code: Code | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def runtime(self) -> str:
        """``remote`` is how MLRun exports ``nuclio``; both mean the same runtime."""
        return "nuclio" if self.kind == "remote" else self.kind

    @property
    def full_name(self) -> str:
        """``<project>-<name>[-<tag>]`` as a Kubernetes name (Nuclio's convention)."""
        tag = self.tag if self.tag and self.tag != "latest" else ""
        return k8s_name(self.project if self.project not in ("", "default") else "", self.name, tag)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.spec.get(key)
        return default if value is None else value


def build(data: Mapping[str, Any], source: str, config: Config) -> FunctionSpec:
    """The model of a validated document; keys the schema does not know stay out of it (and the manifests)."""
    from mlctl.spec import validate

    data = validate.known_only(data)
    metadata = data.get("metadata") or {}
    spec = data.get("spec") or {}
    return FunctionSpec(
        kind=str(data["kind"]),
        name=str(metadata["name"]),
        project=str(metadata.get("project") or ""),
        tag=str(metadata.get("tag") or ""),
        image=str(spec.get("image") or ""),
        source=source,
        spec=_frozen(spec),
        metadata=_frozen(metadata),
        preemption_mode=str(spec.get("preemption_mode") or config.default_preemption_mode),
        priority_class_name=str(spec.get("priority_class_name") or config.default_priority_class),
        gpu_type=str(config.get("default_gpu_type") or "nvidia.com/gpu"),
        code=_code(spec, source),
        labels=_frozen({str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}),
    )


def _code(spec: Mapping[str, Any], source: str) -> Code | None:
    build_ = spec.get("build") or {}
    encoded = build_.get("functionSourceCode")
    if not encoded:
        return None
    from mlctl.spec import validate

    try:
        text = validate.function_code(str(encoded))
    except ValueError as exc:
        raise InvalidInput(f"{source}: {exc}") from None
    origin = str(build_.get("origin_filename") or "")
    filename = origin.rsplit("/", 1)[-1] if origin.endswith(".py") else "function.py"
    return Code(text=text, filename=filename)
