"""``mlctl deploy``: apply functions' objects to a cluster, all or nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.cli.invocation import Invocation
    from mlctl.cluster.apply import Preflight
    from mlctl.cluster.client import Cluster
    from mlctl.pipeline.deploy import Outcome, Plan
    from mlctl.spec.overrides import Overrides

Output = Annotated[
    str,
    opt.formats(
        "text",
        "yaml",
        "json",
        "name",
        help="text (what changed, on stderr) | yaml | json | name; with --dry-run, the manifests.",
    ),
]


@app.command(
    help=(
        "Apply functions' objects to the cluster (server-side apply, all-or-nothing preflight).\n\n"
        f"Override precedence: {opt.PANEL}."
    )
)
@opt.with_overrides
def deploy(
    ctx: typer.Context,
    files: opt.Files,
    dry_run: Annotated[
        str | None,
        typer.Option(
            "--dry-run",
            help="client: print what would be applied; server: also check it on the server.",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the workloads are ready.")] = False,
    output: Output = "text",
    engine: opt.Engine = None,
    show_secrets: opt.ShowSecrets = False,
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
    timeout: opt.Timeout = "5m",
    *,
    overrides: Overrides,  # the override flags, parsed (opt.with_overrides)
) -> int:
    from mlctl import pipeline
    from mlctl.cli import invocation
    from mlctl.errors import UsageError
    from mlctl.pipeline import deploy as deploy_

    if dry_run not in (None, "client", "server"):
        raise UsageError("--dry-run must be client or server")
    current = invocation.of(ctx)
    deadline = opt.seconds(timeout)
    # everything is rendered and validated before the cluster is touched
    cluster = None if dry_run == "client" else current.connect(kubeconfig, context, namespace, deadline)
    where = cluster.namespace if cluster else namespace or pipeline.default_namespace(kubeconfig, context)
    functions = [current.load(file, overrides) for file in files]
    plan = deploy_.plan(functions, current.config(), where, engine or "")
    if cluster is None:
        _manifests(plan.objects, output, show_secrets)
        return 0
    label = f"preflight: checking {len(plan.objects)} objects on {cluster.host}"
    check = _preflight(current, cluster, plan, label)
    if dry_run == "server":
        _manifests(check.dry_run, output, show_secrets)
        return 0
    with current.out.spinner(f"applying {len(plan.objects)} objects"):
        outcome = deploy_.apply(cluster, plan, check)
    _report(current, outcome, output)
    if wait:
        from mlctl.cluster import ready

        ready.wait(cluster, plan.objects, deadline, current.out.progress)
    return 0


def _manifests(objects: list[dict[str, Any]], output: str, show_secrets: bool) -> None:
    from mlctl import render
    from mlctl.cli import output as out

    out.emit_documents(objects if show_secrets else render.redact(objects), "yaml" if output == "text" else output)


def _preflight(current: Invocation, cluster: Cluster, plan: Plan, label: str) -> Preflight:
    """The preflight behind a spinner; its warnings said (its problems raise: nothing is written)."""
    from mlctl.pipeline import deploy as deploy_

    with current.out.spinner(label):
        check = deploy_.preflight(cluster, plan.objects, plan.checks)
    for warning in check.warnings:
        current.out.warn(warning)
    return check


def _report(current: Invocation, outcome: Outcome, output: str) -> None:
    """What applying (or deleting) did: kind/name action lines on stderr, or data on stdout."""
    from mlctl.cli import output as out

    if output in ("json", "yaml"):
        out.emit(outcome.to_json(), output)
    elif output == "name":
        out.lines(f"{r.kind.lower()}/{r.name}" for r in outcome.applied)
    else:
        for result in outcome.applied:
            current.out.say(f"{result.kind.lower()}/{result.name} {result.action}")
        if outcome.unchanged:
            current.out.say("no changes")
