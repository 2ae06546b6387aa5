"""Deploying functions: the plan (what would be applied), its preflight, applying it, deleting it.

A plan is pure (rendered, stamped, in apply order); everything after it
talks to the cluster through ``mlctl.cluster.apply`` and returns values the
CLI prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlctl import pipeline

if TYPE_CHECKING:
    from mlctl.cluster.apply import Applied, Preflight
    from mlctl.cluster.client import Cluster
    from mlctl.config import Config

RUN_RUNTIMES = ("job", "mpijob", "spark")  # kinds whose objects are runs, started by `mlctl run`


@dataclass(frozen=True)
class Plan:
    """Everything one deploy would apply, and the run objects its preflight checks too."""

    namespace: str
    objects: list[dict[str, Any]]  # stamped, in apply order
    checks: list[dict[str, Any]]  # never applied: dry-run so that a bad run fails the deploy, not the first run


@dataclass(frozen=True)
class Outcome:
    """What applying a plan did to each object."""

    applied: list[Applied]

    @property
    def unchanged(self) -> bool:
        return all(result.action == "unchanged" for result in self.applied)

    def to_json(self) -> dict[str, Any]:
        return {"applied": [result.__dict__ for result in self.applied]}


def function_objects(loaded: pipeline.Loaded, config: Config, namespace: str, engine: str = "") -> list[dict[str, Any]]:
    """The objects deploy applies for one function (its code, secrets, services)."""
    from mlctl.render.context import RenderContext

    return pipeline.render(loaded, config, RenderContext(namespace=namespace, engine=engine))


def run_checks(loaded: pipeline.Loaded, config: Config, namespace: str) -> list[dict[str, Any]]:
    """For a kind that runs (job, mpijob, spark): the run object a ``mlctl run`` would create.

    Deploy applies only the function's objects (code, secrets), but the
    preflight dry-runs this too, so a bad priority class or a missing PVC
    fails the deploy instead of the first run.
    """
    from mlctl.render.context import RenderContext

    if loaded.function.runtime not in RUN_RUNTIMES:
        return []
    objects = pipeline.render(loaded, config, RenderContext(namespace=namespace, run_id="preflight"))
    # the run's own pinned code copy comes with it (the run creates it): checked, never applied by deploy
    return [o for o in objects if o["kind"] not in ("ConfigMap", "Secret") or o.get("immutable")]


def plan(functions: Sequence[pipeline.Loaded], config: Config, namespace: str, engine: str = "") -> Plan:
    """Render every function, stamp the objects and order them for applying (pure)."""
    from mlctl import render
    from mlctl.cluster import apply as apply_

    objects = [o for loaded in functions for o in function_objects(loaded, config, namespace, engine)]
    checks = [o for loaded in functions for o in run_checks(loaded, config, namespace)]
    return Plan(namespace, apply_.stamp(render.render_order(objects)), checks)


def preflight(
    cluster: Cluster, objects: Sequence[Mapping[str, Any]], checks: Sequence[Mapping[str, Any]] = ()
) -> Preflight:
    """Every check the server can make; raise ``PreflightFailed`` listing each problem (nothing is written)."""
    from mlctl.cluster import apply as apply_
    from mlctl.errors import PreflightFailed

    check = apply_.preflight(cluster, objects, checks)
    if check.problems:
        raise PreflightFailed(
            f"preflight failed: {len(check.problems)} problem(s); nothing was written", details=check.problems
        )
    return check


def apply(cluster: Cluster, plan_: Plan, check: Preflight) -> Outcome:
    from mlctl.cluster import apply as apply_

    return Outcome(apply_.apply_all(cluster, plan_.objects, check))


def apply_objects(cluster: Cluster, objects: Sequence[Mapping[str, Any]]) -> Outcome:
    """Apply objects mlctl made itself (the monitor's own), without a preflight."""
    from mlctl.cluster import apply as apply_

    return Outcome(apply_.apply_all(cluster, objects))


def delete(cluster: Cluster, functions: Sequence[pipeline.Loaded], config: Config, engine: str = "") -> Outcome:
    """Delete the objects deploy made for these functions."""
    from mlctl.cluster import apply as apply_

    objects = [o for loaded in functions for o in function_objects(loaded, config, cluster.namespace, engine)]
    return Outcome(apply_.delete_all(cluster, objects))


def delete_by_name(cluster: Cluster, name: str) -> Outcome:
    """Delete every object deploy made for the function ``name`` (runs are kept)."""
    from mlctl.cluster import apply as apply_

    return Outcome(apply_.delete_by_function(cluster, name))
