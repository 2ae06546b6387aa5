"""The function's labels and annotations reach every pod of every kind, as MLRun puts them on pods."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.render_support import by_kind, render, spec_of

LABELS = {"team": "vision"}
ANNOTATIONS = {"example.com/owner": "ana", "prometheus.io/scrape": "true"}


def pod_metadata(objects: list[dict[str, Any]], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(which pod, its metadata) for every pod template the kind's objects carry."""
    if kind == "job":
        yield "job", by_kind(objects, "Job")["spec"]["template"]["metadata"]
    elif kind == "mpijob":
        for role, replica in by_kind(objects, "MPIJob")["spec"]["mpiReplicaSpecs"].items():
            yield role, replica["template"]["metadata"]
    elif kind == "spark":
        app = by_kind(objects, "SparkApplication")["spec"]
        for side in ("driver", "executor"):
            yield side, {"labels": app[side]["labels"], "annotations": app[side].get("annotations", {})}
    elif kind == "dask":
        cluster = by_kind(objects, "DaskCluster")["spec"]
        for role in ("scheduler", "worker"):
            yield role, cluster[role]["metadata"]
    else:
        yield "deployment", by_kind(objects, "Deployment")["spec"]["template"]["metadata"]


@pytest.mark.parametrize(
    ("kind", "ctx"),
    [
        ("job", {}),
        ("mpijob", {}),
        ("spark", {}),
        ("dask", {"run_id": ""}),
        ("serving", {"run_id": "", "engine": "kubernetes"}),
    ],
)
def test_every_pod_carries_the_functions_labels_and_annotations(kind: str, ctx: dict[str, Any]) -> None:
    data = spec_of(kind)
    data["metadata"].update(labels=LABELS, annotations=ANNOTATIONS)

    pods = list(pod_metadata(render(data, **ctx), kind))

    assert pods
    for role, metadata in pods:
        assert LABELS.items() <= metadata["labels"].items(), role
        assert ANNOTATIONS.items() <= (metadata.get("annotations") or {}).items(), role
