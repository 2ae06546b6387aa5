"""Values the unit tests share (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "mlrun-hub"
EXAMPLES = REPO / "specs-examples"

# The preemptible-node profile the examples and golden files are rendered with.
SPOT_ENV = {
    "MLCTL_PREEMPTIBLE_NODES__NODE_SELECTOR": '{"node-lifecycle": "spot"}',
    "MLCTL_PREEMPTIBLE_NODES__TOLERATIONS": (
        '[{"key": "node-lifecycle", "operator": "Equal", "value": "spot", "effect": "NoSchedule"}]'
    ),
}


@dataclass(frozen=True)
class Result:
    """What one ``mlctl`` command did: its exit code and what it printed."""

    code: int
    out: str
    err: str


Cli = Callable[..., Result]
SpecFile = Callable[..., Path]


K8S_VERSION = "1.34"


def assert_valid_manifest(obj: Mapping[str, Any]) -> None:
    """Check one manifest against Kubernetes' own OpenAPI schema (strict: no unknown fields)."""
    import kubernetes_validate

    _cache_schemas()
    kubernetes_validate.validate(dict(obj), K8S_VERSION, strict=True)


@functools.cache
def _cache_schemas() -> None:
    # kubernetes_validate re-reads and re-parses the (large) schema files on every
    # call; the corpus test validates ~900 manifests, so read each file once
    from kubernetes_validate import utils

    utils.schema_contents = functools.cache(utils.schema_contents)
