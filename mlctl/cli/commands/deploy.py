"""``mlctl deploy``, ``diff`` and ``delete``: functions' objects on a cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlctl.cli import options as opt
from mlctl.cli.commands import cluster_opts as copt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.spec.overrides import Overrides

Engine = Annotated[
    str | None, typer.Option("--engine", help="Serving engine: nuclio | kubernetes.", show_default=False)
]


def _render_function(file: str, namespace: str, overrides: Any, engine: str | None) -> tuple[Any, list[dict[str, Any]]]:
    from mlctl import pipeline
    from mlctl.cli import output as out
    from mlctl.cli import state
    from mlctl.render.context import RenderContext

    config = state.config()
    loaded = pipeline.load(file, config, overrides)
    out.problems(loaded.warnings)
    return loaded, pipeline.render(loaded, config, RenderContext(namespace=namespace, engine=engine or ""))


def _run_check(loaded: Any, namespace: str) -> list[dict[str, Any]]:
    """For a kind that runs (job, mpijob, spark): the run object a `mlctl run` would create.

    Deploy applies only the function's objects (code, secrets), but the
    preflight dry-runs this too, so a bad priority class or a missing PVC
    fails the deploy instead of the first run.
    """
    from mlctl import pipeline
    from mlctl.cli import state
    from mlctl.render.context import RenderContext

    if loaded.function.runtime not in ("job", "mpijob", "spark"):
        return []
    objects = pipeline.render(loaded, state.config(), RenderContext(namespace=namespace, run_id="preflight"))
    # the run's own pinned code copy comes with it (the run creates it): checked, never applied by deploy
    return [o for o in objects if o["kind"] not in ("ConfigMap", "Secret") or o.get("immutable")]


@app.command(
    help=(
        "Apply functions' objects to the cluster (server-side apply, all-or-nothing preflight).\n\n"
        f"Override precedence: {opt.PANEL}."
    )
)
@opt.with_overrides
def deploy(
    files: Annotated[list[str], typer.Argument(help="Spec files or hub:// references.", show_default=False)],
    dry_run: Annotated[
        str | None,
        typer.Option(
            "--dry-run",
            help="client: print what would be applied; server: also check it on the server.",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the workloads are ready.")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="text | json | yaml (with --dry-run).")] = "text",
    engine: Engine = None,
    show_secrets: opt.ShowSecrets = False,
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
    timeout: copt.Timeout = "5m",
    *,
    overrides: Overrides,  # the override flags, parsed (opt.with_overrides)
) -> int:
    from mlctl import render as render_
    from mlctl.cli import output as out
    from mlctl.cluster import apply
    from mlctl.errors import UsageError

    if dry_run not in (None, "client", "server"):
        raise UsageError("--dry-run must be client or server")
    deadline = copt.seconds(timeout)
    # everything is rendered and validated before the cluster is touched
    ns_for_render = namespace or "default"
    cluster = None
    if dry_run != "client":
        cluster = copt.connect(kubeconfig, context, namespace, deadline)
        ns_for_render = cluster.namespace
    objects: list[dict[str, Any]] = []
    loaded_functions = []
    for file in files:
        loaded, rendered = _render_function(file, ns_for_render, overrides, engine)
        loaded_functions.append(loaded)
        objects += rendered
    objects = apply.stamp(render_.render_order(objects))
    if dry_run == "client" or cluster is None:
        out.emit_documents(objects if show_secrets else render_.redact(objects), "json" if output == "json" else "yaml")
        return 0
    checks = [o for loaded in loaded_functions for o in _run_check(loaded, ns_for_render)]
    check = copt.preflight(cluster, objects, checks, f"preflight: checking {len(objects)} objects on {cluster.host}")
    if dry_run == "server":
        applied = check.dry_run
        out.emit_documents(applied if show_secrets else render_.redact(applied), "json" if output == "json" else "yaml")
        return 0
    with out.spinner(f"applying {len(objects)} objects"):
        results = apply.apply_all(cluster, objects, check)
    if output == "json":
        out.emit({"applied": [r.__dict__ for r in results]}, "json")
    else:
        for result in results:
            out.say(f"{result.kind.lower()}/{result.name} {result.action}")
        if all(r.action == "unchanged" for r in results):
            out.say("no changes")
    if wait:
        from mlctl.cluster import ready

        ready.wait(cluster, objects, deadline, out.progress)
    return 0


@app.command(help="Show how the live objects differ from the spec (exit 0: none, 1: differences).")
@opt.with_overrides
def diff(
    files: Annotated[list[str], typer.Argument(help="Spec files or hub:// references.", show_default=False)],
    engine: Engine = None,
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
    *,
    overrides: Overrides,  # the override flags, parsed (opt.with_overrides)
) -> int:
    import difflib
    import sys

    from mlctl import render as render_
    from mlctl.cli import output as out
    from mlctl.cluster import apply
    from mlctl.errors import ExitCode
    from mlctl.spec import loader

    cluster = copt.connect(kubeconfig, context, namespace)
    objects: list[dict[str, Any]] = []
    for file in files:
        objects += _render_function(file, cluster.namespace, overrides, engine)[1]
    differences = 0
    for obj, live, wanted in apply.differences(cluster, apply.stamp(render_.render_order(objects))):
        before = loader.dump(apply.comparable(render_.redact([live])[0])) if live else ""
        after = loader.dump(apply.comparable(render_.redact([wanted])[0]))
        if before == after:
            continue
        differences += 1
        name = f"{obj['kind'].lower()}/{obj['metadata']['name']}"
        sys.stdout.writelines(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                f"live/{name}" if live else "/dev/null",
                f"spec/{name}",
            )
        )
    if not differences:
        out.say("no differences")
    return ExitCode.DIFFERENCES if differences else ExitCode.OK


@app.command(help="Delete what deploy created, from a spec file or by function name.")
def delete(
    target: Annotated[str, typer.Argument(help="Spec file, hub:// reference, or a function name.", show_default=False)],
    engine: Engine = None,
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
) -> int:
    from pathlib import Path

    from mlctl.cli import output as out
    from mlctl.cluster import apply

    cluster = copt.connect(kubeconfig, context, namespace)
    if target.startswith("hub://") or Path(target).exists():
        _, objects = _render_function(target, cluster.namespace, None, engine)
        results = apply.delete_all(cluster, objects)
    else:
        results = apply.delete_by_function(cluster, target)
    for result in results:
        out.say(f"{result.kind.lower()}/{result.name} {result.action}")
    return 0
