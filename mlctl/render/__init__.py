"""Manifests from a FunctionSpec: one module per runtime kind, plus the shared pod.

Rendering is pure and never imports the cluster package or ``kubernetes``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.kube import kinds
from mlctl.render.context import RenderContext
from mlctl.spec.model import FunctionSpec

Renderer = Callable[[FunctionSpec, Config, RenderContext], list[dict[str, Any]]]
REDACTED = "<redacted: --show-secrets to reveal>"
_SECRET_NAME = re.compile(r"(?i)(secret|passw|token|access_?key|api_?key|private_?key|credential)")


def renderer(kind: str) -> Renderer:
    from importlib import import_module

    modules = {
        "job": "job",
        "mpijob": "mpijob",
        "dask": "dask",
        "nuclio": "nuclio",
        "remote": "nuclio",
        "serving": "nuclio",
        "application": "nuclio",
        "spark": "spark",
    }
    name = modules.get(kind)
    if name is None:
        raise InvalidInput(f"kind '{kind}' cannot be rendered (supported: {', '.join(sorted(modules))})")
    try:
        module = import_module(f"mlctl.render.{name}")
    except ModuleNotFoundError:
        raise InvalidInput(f"kind '{kind}' is not rendered by this version of mlctl yet") from None
    render: Renderer = module.render
    return render


def render(fn: FunctionSpec, config: Config, ctx: RenderContext) -> list[dict[str, Any]]:
    return render_order(renderer(fn.kind)(fn, config, ctx))


def render_order(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply order: what others refer to first; otherwise as given (stable)."""
    return sorted(objects, key=lambda o: kinds.render_order(o.get("kind", "")))


def redact(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies with Secret data and secret-looking env values hidden."""
    out = copy.deepcopy(objects)
    for obj in out:
        if obj.get("kind") == "Secret":
            for key in ("data", "stringData"):
                if key in obj:
                    obj[key] = dict.fromkeys(obj[key], REDACTED)
        _redact_env(obj)
    return out


def _redact_env(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and item.get("value") and _SECRET_NAME.search(str(item.get("name"))):
                        item["value"] = REDACTED
            else:
                _redact_env(value)
    elif isinstance(node, list):
        for item in node:
            _redact_env(item)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))
