"""``mlctl monitor``: abort every run stuck past its state thresholds (or install a monitor in the cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.cli.invocation import Invocation


@app.command()
def monitor(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Check every run once and exit (for cron).")] = False,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace.")] = False,
    install: Annotated[
        bool, typer.Option("--install", help="Deploy the monitor into the cluster (Deployment + least-privilege RBAC).")
    ] = False,
    image: Annotated[str, typer.Option("--image", help="Image with mlctl installed, for --install.")] = "mlctl:0.1.0",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --install: print the manifests only.")] = False,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
) -> int:
    """Enforce state thresholds on every run (detached ones, runs started from CI): abort the stuck ones.

    Built on watches (its API calls do not grow with the number of runs); safe to restart at any time;
    two monitors never abort a run twice.
    """
    from mlctl.cli import invocation
    from mlctl.runs.cluster import monitor as monitor_

    current = invocation.of(ctx)
    if install:
        _install(current, image, all_namespaces, dry_run, kubeconfig, context, namespace)
        return 0
    cluster = current.connect(kubeconfig, context, namespace)
    where = "all namespaces" if all_namespaces else f"namespace {cluster.namespace}"
    current.out.say(f"monitoring runs in {where}" + (" (once)" if once else ""))
    monitor_.watch(
        cluster,
        all_namespaces=all_namespaces,
        once=once,
        on_abort=lambda run_id, ns, text: current.out.say(f"run {run_id} ({ns}): {text}", "bold red"),
    )
    return 0


def _install(
    current: Invocation,
    image: str,
    all_namespaces: bool,
    dry_run: bool,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
) -> None:
    """The monitor's Deployment and least-privilege RBAC: applied, or printed with --dry-run."""
    from mlctl import pipeline
    from mlctl.cli import output as out
    from mlctl.pipeline import deploy
    from mlctl.render import monitor_install

    cluster = None if dry_run else current.connect(kubeconfig, context, namespace)
    where = cluster.namespace if cluster else namespace or pipeline.default_namespace(kubeconfig, context)
    objects = monitor_install.render(where, image, all_namespaces)
    if cluster is None:
        out.emit_documents(objects)
        return
    outcome = deploy.apply_objects(cluster, objects)
    for result in outcome.applied:
        current.out.say(f"{result.kind.lower()}/{result.name} {result.action}")
