"""``mlctl runs list|get|logs|abort|delete`` (``runs explain`` has a module of its own)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.cli.invocation import Invocation
    from mlctl.cluster.client import Cluster
    from mlctl.runs.record import RunRecord

runs_app = typer.Typer(
    help="Runs on the cluster and on this machine: list, inspect, abort, delete.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
Output = Annotated[str, opt.formats("text", "json", "yaml")]
RunId = Annotated[str, typer.Argument(help="Run id.", show_default=False)]


def _cluster(current: Invocation, kubeconfig: str | None, context: str | None, namespace: str | None) -> Any:
    from mlctl.cluster import client

    if not client.configured(kubeconfig, context):
        return None
    return current.connect(kubeconfig, context, namespace)


def _local_store() -> Any:
    from mlctl.runs import local_store

    return local_store


def _emit(pages: Iterable[list[RunRecord]], output: str) -> None:
    from mlctl.cli import output as out

    if output == "text":
        out.table_pages(
            ["RUN ID", "FUNCTION", "KIND", "WHERE", "STATE", "STARTED", "STATUS"],
            (
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
                    for r in page
                ]
                for page in pages
            ),
        )
    else:
        out.emit_pages(([r.to_json() for r in page] for page in pages), output)


@runs_app.command("list")
def list_(
    ctx: typer.Context,
    output: Output = "text",
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Runs of every namespace.")] = False,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
) -> int:
    """List runs, cluster and local side by side (newest first).

    Over 500 runs the list is shown page by page as the cluster hands them over (500 at a time, as kubectl
    reads them), each page newest first, a table's columns as wide as the page needs. When the cluster cannot
    be read, the local runs are still listed, stderr says why the cluster's are missing, and the exit code
    is 4, so a script knows the list is incomplete.
    """
    from mlctl import errors
    from mlctl.cli import invocation
    from mlctl.runs import record
    from mlctl.runs.cluster import control

    current = invocation.of(ctx)
    missing: list[errors.ClusterError] = []
    shown = 0  # cluster runs listed before a failure

    def cluster_pages() -> Iterator[list[RunRecord]]:
        nonlocal shown
        try:
            cluster = _cluster(current, kubeconfig, context, namespace)
            if cluster is not None:
                for page in control.run_pages(cluster, all_namespaces=all_namespaces):
                    shown += len(page)
                    yield page
        except errors.ClusterError as exc:  # the pages shown stay; the local runs still come
            missing.append(exc)

    # local runs last, as a list of one page has always had them among equal start times
    _emit(record.newest_first(itertools.chain(cluster_pages(), [_local_store().list()]), control.PAGE), output)
    if missing:
        listed = f"{shown} of them and the local runs" if shown else "only local runs"
        current.out.warn(f"the cluster's runs could not be read, {listed} are listed: {missing[0]}")
        return int(missing[0].exit_code)
    return 0


def _find(
    current: Invocation, run_id: str, kubeconfig: str | None, context: str | None, namespace: str | None
) -> tuple[RunRecord, Cluster | None]:
    """(record, cluster or None): local store first (no network), then the cluster."""
    from mlctl import errors
    from mlctl.runs.cluster import control

    local: RunRecord | None = _local_store().find(run_id)
    if local is not None:
        return local, None
    cluster = _cluster(current, kubeconfig, context, namespace)
    if cluster is None:
        raise errors.NotFound(f"run {run_id} not found (no local run of that id, and no cluster configured)")
    return control.get(cluster, run_id), cluster


@runs_app.command("get")
def get(
    ctx: typer.Context,
    run_id: RunId,
    output: Output = "text",
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
) -> int:
    """Show one run: state, status text, timings, parameters, result."""
    from mlctl.cli import invocation
    from mlctl.cli import output as out

    record, _ = _find(invocation.of(ctx), run_id, kubeconfig, context, namespace)
    if output == "json":
        out.emit(record.to_json(), "json")
    elif output == "yaml":  # everything, like json
        out.emit(record.to_json(), "yaml")
    else:  # what is set, as YAML
        data = {k: v for k, v in record.to_json().items() if v not in ("", {}, [], None)}
        if "attempts" in data:
            data["attempts"] = [{k: v for k, v in a.items() if v not in ("", None)} for a in data["attempts"]]
        out.emit(data, "yaml")
    return 0


@runs_app.command("logs")
def logs(
    ctx: typer.Context,
    run_id: RunId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
) -> int:
    """Print a run's logs."""
    from mlctl.cli import invocation
    from mlctl.cli import output as out
    from mlctl.runs.cluster import control

    record, cluster = _find(invocation.of(ctx), run_id, kubeconfig, context, namespace)
    if cluster is None:
        out.lines(_local_store().logs(run_id))
        return 0
    from mlctl.runs import states

    for pod in states.oldest_first(control.pods_of(cluster, run_id, record.namespace)):  # attempt by attempt
        out.lines(cluster.logs(pod["metadata"]["name"], record.namespace, follow=follow))
    return 0


@runs_app.command("abort")
def abort(
    ctx: typer.Context,
    run_id: RunId,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
) -> int:
    """Abort a run: its pods go, its record stays (state aborted, "aborted by user")."""
    from mlctl import errors
    from mlctl.cli import invocation
    from mlctl.runs.cluster import control

    current = invocation.of(ctx)
    record, cluster = _find(current, run_id, kubeconfig, context, namespace)
    if cluster is None:
        raise errors.UsageError(f"run {run_id} ran locally; stop its mlctl process (Ctrl-C) to abort it")
    if control.abort(cluster, run_id, "aborted by user", record.namespace):
        current.out.say(f"run {run_id} aborted")
    else:
        current.out.say(f"run {run_id} had already ended ({record.state})")
    return 0


@runs_app.command("delete")
def delete(
    ctx: typer.Context,
    run_id: RunId,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
) -> int:
    """Delete a run and its record."""
    from mlctl.cli import invocation
    from mlctl.runs.cluster import control

    current = invocation.of(ctx)
    record, cluster = _find(current, run_id, kubeconfig, context, namespace)
    if cluster is None:
        _local_store().delete(run_id)
    else:
        control.delete(cluster, run_id, record.namespace)
    current.out.say(f"run {run_id} deleted")
    return 0


# `runs explain` lives in its own module; importing it registers it on runs_app.
from mlctl.cli.commands import explain as _explain  # noqa: E402, F401
