"""``mlctl run FILE``: start one run, then watch it to its end (or --detach)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl import pipeline
    from mlctl.cli.invocation import Invocation
    from mlctl.cluster.client import Cluster
    from mlctl.pipeline import run as run_
    from mlctl.runs.record import RunRecord
    from mlctl.spec.overrides import Overrides

Output = Annotated[str, opt.formats("text", "json", help="text | json (one final JSON object on stdout).")]


@app.command(
    help=(
        "Start a run of a function and watch it: state changes on stderr, logs, the result at the end.\n\n"
        "Exit codes: 0 succeeded, 5 failed, 6 aborted (threshold or user), 7 --timeout reached (the run goes on).\n\n"
        "Retries: --retry N tries a failed run N more times, --retry-backoff waits before each; a disruption "
        "(node reclaimed or drained, pod evicted or preempted) is tried again without spending N, up to "
        "--max-disruptions times. --task reads MLRun's run template (parameters, retry, state_thresholds); "
        "flags win over it.\n\n"
        "Without any cluster configured (no kubeconfig context, not in a cluster) the run happens locally; "
        f"--cluster refuses that fallback.\n\nOverride precedence: {opt.PANEL}."
    )
)
@opt.with_overrides
def run(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Spec file or hub:// reference.", show_default=False)],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="K=V run parameter (value read as YAML); repeatable.", show_default=False),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="MLRun run template (task) YAML: spec.parameters, retry, state_thresholds.",
            show_default=False,
        ),
    ] = None,
    retry: Annotated[
        int | None,
        typer.Option("--retry", help="Retries of a failed run (attempts = N + 1; default 0).", show_default=False),
    ] = None,
    retry_backoff: Annotated[
        str | None,
        typer.Option(
            "--retry-backoff", help="Wait before a retried attempt, e.g. 30s (default 30s).", show_default=False
        ),
    ] = None,
    max_disruptions: Annotated[
        int | None,
        typer.Option(
            "--max-disruptions",
            help="Disruptions retried without spending --retry (default 3; 0 fails the run at the first).",
            show_default=False,
        ),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Return at once with the run id (mlctl monitor enforces thresholds).")
    ] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Run on this machine with the same bootstrap as the pod.")
    ] = False,
    cluster_only: Annotated[bool, typer.Option("--cluster", help="Never fall back to a local run.")] = False,
    output: Output = "text",
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Context = None,
    namespace: opt.Namespace = None,
    timeout: opt.Timeout = "-1",
    *,
    overrides: Overrides,  # the override flags, parsed (opt.with_overrides)
) -> int:
    from mlctl.cli import invocation
    from mlctl.cluster import client
    from mlctl.pipeline import run as run_
    from mlctl.runs import ids

    current = invocation.of(ctx)
    configured = local or cluster_only or client.configured(kubeconfig, context)
    where = run_.where(local=local, cluster_only=cluster_only, configured=configured)
    if where == run_.LOCAL and not local:
        current.out.say("no cluster configured (no kubeconfig context, not in a cluster): running locally")
    # connect before reading the spec: the cluster may hold config (profile, priority classes)
    deadline = opt.seconds(timeout)
    cluster = None if where == run_.LOCAL else current.connect(kubeconfig, context, namespace, deadline)
    asked = run_.request(
        current.config(),
        ids.parse_params(param or []),
        overrides,
        task_file=task,
        retry=retry,
        backoff=retry_backoff,
        max_disruptions=max_disruptions,
    )
    current.out.problems(asked.warnings)
    loaded = current.load(file, asked.overrides)
    if cluster is None:
        record: RunRecord | None = _run_local(current, loaded, ids.new_run_id(), asked, output)
    else:
        run_.runnable(loaded)
        for warning in run_.retry_warnings(loaded, asked):
            current.out.warn(warning)
        record = _run_on_cluster(current, cluster, loaded, asked, output, detach, deadline)
    if record is not None:  # None: detached, the run goes on
        _finish(current, record, output)
    return 0


def _run_on_cluster(
    current: Invocation,
    cluster: Cluster,
    loaded: pipeline.Loaded,
    asked: run_.Request,
    output: str,
    detach: bool,
    timeout: float,
) -> RunRecord | None:
    """Start the run; unless detached, watch it to its end and return its record."""
    from mlctl.cli import output as out
    from mlctl.pipeline import deploy
    from mlctl.pipeline import run as run_
    from mlctl.runs import ids
    from mlctl.runs.cluster import follow, gather

    run_id, config = ids.new_run_id(), current.config()
    objects = run_.objects(loaded, config, cluster.namespace, run_id, asked.params, asked.retry)
    with current.out.spinner(f"preflight: checking {len(objects)} objects"):
        check = deploy.preflight(cluster, objects)
    for warning in check.warnings:
        current.out.warn(warning)
    started = run_.start(cluster, objects, check, run_id)
    current.out.say(f"run {run_id} started ({loaded.function.name}, namespace {cluster.namespace})")
    if detach:
        if output == "json":
            out.emit(started.to_json(), "json")
        else:
            out.lines([run_id])
        return None
    log_stream = sys.stderr if output == "json" else sys.stdout
    callbacks = follow.Callbacks(
        state=lambda pod, text: current.out.progress(f"{pod}: {text}"),
        log=lambda line: print(line, file=log_stream, flush=True),
        abort=lambda text: current.out.say(text, "bold red"),
    )
    # once, if the run stays pending for long: why, and what to change
    gather.explain_when_pending(
        cluster, run_id, cluster.namespace, config, loaded.function.source, current.out.say_lines
    )
    try:
        return follow.follow(cluster, run_id, loaded.function.runtime, cluster.namespace, callbacks, timeout)
    except KeyboardInterrupt:
        current.out.say(f"stopped watching; run {run_id} goes on (mlctl runs abort {run_id} to stop it)")
        raise


def _finish(current: Invocation, record: RunRecord, output: str) -> None:
    """Print the final record; a run that did not succeed raises its verdict (exit 5 or 6)."""
    from mlctl.cli import output as out
    from mlctl.pipeline import run as run_
    from mlctl.runs import record as record_

    if output == "json":
        out.emit(record.to_json(), "json")
    else:
        if record.state == record_.SUCCEEDED:  # any other ending is said by the error it raises
            current.out.say(run_.summary(record), "green")
        if record.result:
            out.emit(dict(record.result), "yaml")
    run_.verdict(record)


def _run_local(
    current: Invocation, loaded: pipeline.Loaded, run_id: str, asked: run_.Request, output: str
) -> RunRecord:
    from mlctl.local import runner

    for warning in runner.check(loaded.function):
        current.out.warn(warning)
    log_stream = sys.stderr if output == "json" else sys.stdout
    current.out.say(f"run {run_id} started locally ({loaded.function.name})")
    return runner.run(
        loaded.function,
        current.config(),
        run_id=run_id,
        params=asked.params,
        retry=asked.retry,
        on_output=lambda stream, line: print(line, file=sys.stderr if stream == "stderr" else log_stream, flush=True),
    )
