"""Rendering a spec in tests: from a dict, through the same checks ``mlctl render`` runs."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import yaml

from mlctl import config as config_
from mlctl import pipeline
from mlctl import render as render_
from mlctl.render.context import RenderContext
from mlctl.spec import loader, model
from tests.unit.support import SPOT_ENV

DEFAULT = config_.resolve({}, [])
SPOT = config_.resolve(SPOT_ENV, [])
# a spot profile without tolerations: 'prevent' then needs a NotIn requirement
SPOT_LABELS_ONLY = config_.resolve({"MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR": '{"node-lifecycle": "spot"}'}, [])
SPOT_TOLERATION = {"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
CODE = "def handler(context, event=None):\n    return 'ok'\n"


def encoded(code: str = CODE) -> str:
    return base64.b64encode(code.encode()).decode()


def spec_of(
    kind: str, name: str = "fn", project: str = "demo", tag: str = "", code: str | None = CODE, **spec: Any
) -> dict[str, Any]:
    """A function document; ``code`` is embedded (with origin ``fn.py``) unless None."""
    body: dict[str, Any] = {"image": "example/image:1"}
    if code is not None:
        body["default_handler"] = "handler"
        body["build"] = {"functionSourceCode": encoded(code), "origin_filename": "/src/fn.py"}
    body.update(spec)
    metadata: dict[str, Any] = {"name": name, "project": project}
    if tag:
        metadata["tag"] = tag
    return {"kind": kind, "metadata": metadata, "spec": body}


def function(data: Mapping[str, Any], config: config_.Config = DEFAULT) -> model.FunctionSpec:
    document = loader.load_text(yaml.safe_dump(dict(data), sort_keys=False), "f.yaml")
    pipeline.check(document, config)
    return model.build(document.data, "f.yaml", config)


def render(data: Mapping[str, Any], config: config_.Config = DEFAULT, **ctx: Any) -> list[dict[str, Any]]:
    """Manifests of ``data``; a run (run id ``abc12345``) unless ``run_id=""`` is given."""
    return render_.render(function(data, config), config, RenderContext(**{"run_id": "abc12345", **ctx}))


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return [o["kind"] for o in objects]


def env_of(container: Mapping[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
