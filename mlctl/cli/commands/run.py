"""``mlctl run FILE``: start one run, then watch it to its end (or --detach)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlctl.cli import options as opt
from mlctl.cli.commands import cluster_opts as copt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.spec.overrides import Overrides

RUN_RUNTIMES = ("job", "mpijob", "spark")


@app.command(
    help=(
        "Start a run of a function and watch it: state changes on stderr, logs, the result at the end.\n\n"
        "Exit codes: 0 succeeded, 5 failed, 6 aborted (threshold or user), 7 --timeout reached (the run goes on).\n\n"
        "Without any cluster configured (no kubeconfig context, not in a cluster) the run happens locally; "
        f"--cluster refuses that fallback.\n\nOverride precedence: {opt.PANEL}."
    )
)
@opt.with_overrides
def run(
    file: Annotated[str, typer.Argument(help="Spec file or hub:// reference.", show_default=False)],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="K=V run parameter (value read as YAML); repeatable.", show_default=False),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Return at once with the run id (mlctl monitor enforces thresholds).")
    ] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Run on this machine with the same bootstrap as the pod.")
    ] = False,
    cluster_only: Annotated[bool, typer.Option("--cluster", help="Never fall back to a local run.")] = False,
    output: Annotated[
        str, typer.Option("--output", "-o", help="text | json (one final JSON object on stdout).")
    ] = "text",
    kubeconfig: copt.Kubeconfig = None,
    context: copt.Context = None,
    namespace: copt.Namespace = None,
    timeout: copt.Timeout = "-1",
    *,
    overrides: Overrides,  # the override flags, parsed (opt.with_overrides)
) -> int:
    from mlctl import pipeline
    from mlctl.cli import output as out
    from mlctl.cli import state
    from mlctl.cluster import client
    from mlctl.errors import UsageError
    from mlctl.runs import ids

    if output not in ("text", "json"):
        raise UsageError("--output must be text or json")
    if local and cluster_only:
        raise UsageError("--local and --cluster exclude each other")
    if not local and not cluster_only and not client.configured(kubeconfig, context):
        out.say("no cluster configured (no kubeconfig context, not in a cluster): running locally")
        local = True
    # connect before reading the spec: the cluster may hold config (profile, priority classes)
    cluster = None if local else copt.connect(kubeconfig, context, namespace, copt.seconds(timeout))
    config = state.config()
    loaded = pipeline.load(file, config, overrides)
    out.problems(loaded.warnings)
    params = ids.parse_params(param or [])
    run_id = ids.new_run_id()
    if cluster is None:
        return _run_local(loaded, config, run_id, params, output)
    if loaded.function.runtime not in RUN_RUNTIMES:
        raise UsageError(f"kind '{loaded.function.kind}' is a service, not a run: use mlctl deploy")
    return _run_on_cluster(cluster, loaded, config, run_id, params, output, detach, copt.seconds(timeout))


def _run_on_cluster(
    cluster: Any,
    loaded: Any,
    config: Any,
    run_id: str,
    params: dict[str, Any],
    output: str,
    detach: bool,
    timeout: float,
) -> int:
    from mlctl import pipeline
    from mlctl.cli import output as out
    from mlctl.cluster import apply
    from mlctl.render.context import RenderContext
    from mlctl.runs.cluster import control, follow, gather

    objects = pipeline.render(loaded, config, RenderContext(namespace=cluster.namespace, run_id=run_id, params=params))
    check = copt.preflight(cluster, objects, (), f"preflight: checking {len(objects)} objects")
    apply.apply_all(cluster, objects, check)
    control.adopt(cluster, objects)  # the run's pinned code goes when its run object does
    out.say(f"run {run_id} started ({loaded.function.name}, namespace {cluster.namespace})")
    if detach:
        if output == "json":
            out.emit({"run_id": run_id, "namespace": cluster.namespace, "state": "pending"}, "json")
        else:
            print(run_id)
        return 0
    log_stream = sys.stderr if output == "json" else sys.stdout
    callbacks = follow.Callbacks(
        state=lambda pod, text: out.progress(f"{pod}: {text}"),
        log=lambda line: print(line, file=log_stream, flush=True),
        abort=lambda text: out.say(text, "bold red"),
    )
    # once, if the run stays pending for long: why, and what to change
    gather.explain_when_pending(cluster, run_id, cluster.namespace, config, loaded.function.source, out.say_lines)
    try:
        record = follow.follow(cluster, run_id, loaded.function.runtime, cluster.namespace, callbacks, timeout)
    except KeyboardInterrupt:
        out.say(f"stopped watching; run {run_id} goes on (mlctl runs abort {run_id} to stop it)")
        raise
    return finish(record, output)


def finish(record: Any, output: str) -> int:
    """Print the final record; the exit code says how the run ended."""
    from mlctl.cli import output as out
    from mlctl.errors import ExitCode
    from mlctl.runs import record as record_

    if output == "json":
        out.emit(record.to_json(), "json")
    else:
        out.say(
            f"run {record.run_id}: {record.state}" + (f": {record.status_text}" if record.status_text else ""),
            "green" if record.state == record_.SUCCEEDED else "bold red",
        )
        if record.result:
            out.emit(dict(record.result), "yaml")
    return {record_.SUCCEEDED: ExitCode.OK, record_.ABORTED: ExitCode.RUN_ABORTED}.get(
        record.state, ExitCode.RUN_FAILED
    )


def _run_local(loaded: Any, config: Any, run_id: str, params: dict[str, Any], output: str) -> int:
    from mlctl.cli import output as out
    from mlctl.local import runner

    for warning in runner.check(loaded.function):
        out.say(f"warning: {warning}", "yellow")
    log_stream = sys.stderr if output == "json" else sys.stdout
    out.say(f"run {run_id} started locally ({loaded.function.name})")
    record = runner.run(
        loaded.function,
        config,
        run_id=run_id,
        params=params,
        on_output=lambda stream, line: print(line, file=sys.stderr if stream == "stderr" else log_stream, flush=True),
    )
    return finish(record, output)
