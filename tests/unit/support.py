"""Values the unit tests share (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _corpus() -> Path:
    """The MLRun hub corpus: ``MLCTL_CORPUS``, else ``shared/corpus/mlrun-hub`` beside this checkout,
    else beside the local repository this checkout was cloned from.

    Where none exists, the first place is returned and the corpus tests fail naming it.
    """
    if os.environ.get("MLCTL_CORPUS"):
        return Path(os.environ["MLCTL_CORPUS"])
    places = [REPO.parent]
    origin = subprocess.run(
        ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        places.append(Path(origin).resolve().parent)
    found = [place / "shared" / "corpus" / "mlrun-hub" for place in places]
    return next((path for path in found if path.is_dir()), found[0])


CORPUS = _corpus()
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
