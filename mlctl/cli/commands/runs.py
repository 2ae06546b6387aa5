"""``mlctl runs list|get|logs|abort|delete`` and ``mlctl monitor``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlctl.cli.commands import cluster_opts as copt
from mlctl.cli.main import app

runs_app = typer.Typer(
    help="Runs on the cluster and on this machine: list, inspect, abort, delete.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
Output = Annotated[str, typer.Option("--output", "-o", help="text | json.")]
RunId = Annotated[str, typer.Argument(help="Run id.", show_default=False)]


def _cluster(kubeconfig: str | None, context: str | None, namespace: str | None) -> Any:
    from mlctl.cluster import client

    if not client.configured(kubeconfig, context):
        return None
    return copt.connect(kubeconfig, context, namespace)


def _local_store() -> Any:
    from mlctl.runs import local_store

    return local_store


@runs_app.command("list")
def list_(
    output: Output = "text",
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Runs of every namespace.")] = False,
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
) -> int:
    """List runs, cluster and local side by side (newest first).

    When the cluster cannot be read, the local runs are still listed, stderr says why the cluster's are
    missing, and the exit code is 4, so a script knows the list is incomplete.
    """
    from mlctl import errors
    from mlctl.cli import output as out
    from mlctl.runs.cluster import control

    records = []
    missing: errors.ClusterError | None = None
    try:
        cluster = _cluster(kubeconfig, context, namespace)
        if cluster is not None:
            records += control.list_runs(cluster, all_namespaces=all_namespaces)
    except errors.ClusterError as exc:
        missing = exc
    records += _local_store().list()
    records.sort(key=lambda r: r.started, reverse=True)
    if output == "json":
        out.emit([r.to_json() for r in records], "json")
    else:
        _table(records)
    if missing is not None:
        out.say(f"warning: the cluster's runs could not be read, only local runs are listed: {missing}", "yellow")
        return int(missing.exit_code)
    return 0


def _table(records: list[Any]) -> None:
    from mlctl.cli import output as out

    out.table(
        ["RUN ID", "FUNCTION", "KIND", "WHERE", "STATE", "STARTED", "STATUS"],
        [
            [
                r.run_id,
                r.function,
                r.kind,
                r.where if r.where == "local" else f"cluster/{r.namespace}",
                r.state,
                r.started,
                r.status_text[:60],
            ]
            for r in records
        ],
    )


def _find(run_id: str, kubeconfig: str | None, context: str | None, namespace: str | None) -> tuple[Any, Any]:
    """(record, cluster or None): local store first (no network), then the cluster."""
    from mlctl import errors
    from mlctl.runs.cluster import control

    local = _local_store().find(run_id)
    if local is not None:
        return local, None
    cluster = _cluster(kubeconfig, context, namespace)
    if cluster is None:
        raise errors.NotFound(f"run {run_id} not found (no local run of that id, and no cluster configured)")
    return control.get(cluster, run_id), cluster


@runs_app.command("get")
def get(
    run_id: RunId,
    output: Output = "text",
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
) -> int:
    """Show one run: state, status text, timings, parameters, result."""
    from mlctl.cli import output as out

    record, _ = _find(run_id, kubeconfig, context, namespace)
    if output == "json":
        out.emit(record.to_json(), "json")
    else:
        out.emit({k: v for k, v in record.to_json().items() if v not in ("", {}, None)}, "yaml")
    return 0


@runs_app.command("logs")
def logs(
    run_id: RunId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
) -> int:
    """Print a run's logs."""
    import sys

    from mlctl.runs.cluster import control

    record, cluster = _find(run_id, kubeconfig, context, namespace)
    if cluster is None:
        for line in _local_store().logs(run_id):
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
        return 0
    for pod in control.pods_of(cluster, run_id, record.namespace):
        for line in cluster.logs(pod["metadata"]["name"], record.namespace, follow=follow):
            sys.stdout.write(line + "\n")
    return 0


@runs_app.command("abort")
def abort(
    run_id: RunId, kubeconfig: copt.Kubeconfig = None, context: copt.Context = None, namespace: copt.Namespace = None
) -> int:
    """Abort a run: its pods go, its record stays (state aborted, "aborted by user")."""
    from mlctl import errors
    from mlctl.cli import output as out
    from mlctl.runs.cluster import control

    record, cluster = _find(run_id, kubeconfig, context, namespace)
    if cluster is None:
        raise errors.UsageError(f"run {run_id} ran locally; stop its mlctl process (Ctrl-C) to abort it")
    if control.abort(cluster, run_id, "aborted by user", record.namespace):
        out.say(f"run {run_id} aborted")
    else:
        out.say(f"run {run_id} had already ended ({record.state})")
    return 0


@runs_app.command("delete")
def delete(
    run_id: RunId, kubeconfig: copt.Kubeconfig = None, context: copt.Context = None, namespace: copt.Namespace = None
) -> int:
    """Delete a run and its record."""
    from mlctl.cli import output as out
    from mlctl.runs.cluster import control

    record, cluster = _find(run_id, kubeconfig, context, namespace)
    if cluster is None:
        _local_store().delete(run_id)
    else:
        control.delete(cluster, run_id, record.namespace)
    out.say(f"run {run_id} deleted")
    return 0


@app.command()
def monitor(
    once: Annotated[bool, typer.Option("--once", help="Check every run once and exit (for cron).")] = False,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace.")] = False,
    install: Annotated[
        bool, typer.Option("--install", help="Deploy the monitor into the cluster (Deployment + least-privilege RBAC).")
    ] = False,
    image: Annotated[str, typer.Option("--image", help="Image with mlctl installed, for --install.")] = "mlctl:0.1.0",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --install: print the manifests only.")] = False,
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
) -> int:
    """Enforce state thresholds on every run (detached ones, runs started from CI): abort the stuck ones.

    Built on watches (its API calls do not grow with the number of runs); safe to restart at any time;
    two monitors never abort a run twice.
    """
    from mlctl.cli import output as out
    from mlctl.runs.cluster import monitor as monitor_

    if install:
        from mlctl.cluster import apply
        from mlctl.render import monitor_install

        ns = namespace or "default"
        cluster = None if dry_run else copt.connect(kubeconfig, context, namespace)
        ns = cluster.namespace if cluster else ns
        objects = monitor_install.render(ns, image, all_namespaces)
        if cluster is None:
            out.emit_documents(objects)
            return 0
        for result in apply.apply_all(cluster, objects):
            out.say(f"{result.kind.lower()}/{result.name} {result.action}")
        return 0
    cluster = copt.connect(kubeconfig, context, namespace)
    where = "all namespaces" if all_namespaces else f"namespace {cluster.namespace}"
    out.say(f"monitoring runs in {where}" + (" (once)" if once else ""))
    monitor_.watch(
        cluster,
        all_namespaces=all_namespaces,
        once=once,
        on_abort=lambda run_id, ns, text: out.say(f"run {run_id} ({ns}): {text}", "bold red"),
    )
    return 0


# `runs explain` lives in its own module; importing it registers it on runs_app.
from mlctl.cli.commands import explain as _explain  # noqa: E402, F401
