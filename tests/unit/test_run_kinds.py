"""Runs are found whatever API version their run object was rendered in.

A stand-in for the cluster serves exactly the rendered objects, under the
API version they were rendered with, and answers NotFound for a version no
CRD serves, as the API server does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from mlctl import config as config_
from mlctl import errors
from mlctl.kube import kinds, labels
from mlctl.runs.cluster import control, monitor
from tests.unit.render_support import render, spec_of


class ServedObjects:
    """Answers ``list`` the way the API server does for the kinds and versions of ``objects``."""

    namespace = "ml"

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = [
            {**o, "metadata": {**o["metadata"], "uid": str(uuid.uuid4()), "namespace": "ml"}} for o in objects
        ]
        self.served = {(o["apiVersion"], o["kind"]) for o in objects}
        self.served.add(("v1", "Pod"))

    def list(self, api_version: str, kind: str, namespace: str | None = None, **query: Any) -> list[dict[str, Any]]:
        if (api_version, kind) not in self.served:
            raise errors.NotFound(f"{kind} {api_version} not found: the server could not find the requested resource")
        wanted = _selected(query.get("selector", ""))
        return [o for o in self.objects if (o["apiVersion"], o["kind"]) == (api_version, kind) and wanted(o)]

    def pages(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "", limit: int = 500
    ) -> list[dict[str, Any]]:
        return self.list(api_version, kind, namespace, selector=label_selector)

    def page_by_page(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "", limit: int = 500
    ) -> Iterator[list[dict[str, Any]]]:
        listed = self.list(api_version, kind, namespace, selector=label_selector)
        for start in range(0, len(listed), limit):
            yield listed[start : start + limit]


def _selected(selector: str) -> Any:
    def matches(obj: Mapping[str, Any]) -> bool:
        have = obj["metadata"].get("labels") or {}
        for term in filter(None, re.split(r",(?![^(]*\))", selector)):  # commas inside "in (...)" join values
            if " in (" in term:
                key, _, values = term.partition(" in (")
                if have.get(key) not in values.rstrip(")").split(","):
                    return False
                continue
            key, _, value = term.partition("=")
            if key not in have or (value and have[key] != value):
                return False
        return True

    return matches


@pytest.mark.parametrize("version", ["v2beta1", "v1"])
def test_an_mpijob_run_is_found_and_listed_in_each_version_it_can_be_rendered_in(version: str) -> None:
    config = config_.resolve({"MLCTL_MPIJOB_CRD_VERSION": version}, [])
    objects = render(spec_of("mpijob", replicas=2), config, run_id="mpi1")
    cluster = ServedObjects(objects)

    found = control.find(cluster, "mpi1")  # type: ignore[arg-type]
    assert found is not None
    obj, runtime = found
    assert (obj["apiVersion"], runtime) == (f"kubeflow.org/{version}", "mpijob")
    assert [r.run_id for r in control.list_runs(cluster)] == ["mpi1"]  # type: ignore[arg-type]


def test_a_crd_serving_both_versions_lists_each_run_once() -> None:
    objects = render(spec_of("mpijob"), config_.resolve({}, []), run_id="mpi2")
    cluster = ServedObjects(objects)
    run = next(o for o in cluster.objects if o["kind"] == "MPIJob")
    served_twice = {**run, "apiVersion": kinds.MPIJOB_V1.api_version}
    cluster.objects.append(served_twice)
    cluster.served.add(kinds.MPIJOB_V1.ref())
    assert [r.run_id for r in control.list_runs(cluster)] == ["mpi2"]  # type: ignore[arg-type]


def test_every_run_object_a_renderer_makes_is_a_run_kind() -> None:
    runs = {k.ref() for k in kinds.run_kinds()}
    for version in ("v2beta1", "v1"):
        config = config_.resolve({"MLCTL_MPIJOB_CRD_VERSION": version}, [])
        for runtime in ("job", "mpijob", "spark"):
            rendered = render(spec_of(runtime), config, run_id="r1")
            made = [o for o in rendered if labels.RUN_ID in (o["metadata"].get("labels") or {})]
            assert made, runtime
            assert {(o["apiVersion"], o["kind"]) for o in made} <= runs | {("v1", "ConfigMap"), ("v1", "Secret")}


def test_the_monitor_tracks_an_mpijob_run_rendered_as_v1() -> None:
    config = config_.resolve({"MLCTL_MPIJOB_CRD_VERSION": "v1"}, [])
    cluster = ServedObjects(render(spec_of("mpijob"), config, run_id="mpi3"))
    tracker = monitor.watch(cluster, namespace="ml", once=True)  # type: ignore[arg-type]
    assert [(o["apiVersion"], o["kind"]) for o in tracker.objects.values()] == [kinds.MPIJOB_V1.ref()]
    assert tracker.object_of("mpi3") is not None
