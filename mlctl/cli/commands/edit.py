"""Commands that edit a spec file in place, one per MLRun SDK setter.

Each writes the file atomically, keeps comments, key order and quoting,
refuses a result that does not validate, and with ``--dry-run`` prints the
diff instead of writing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from mlctl.cli.main import app

File = Annotated[str, typer.Argument(help="Spec file to edit in place.", show_default=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the diff; write nothing.")]


def _apply(ctx: typer.Context, file: str, change: Callable[[Any], None], dry_run: bool) -> int:
    """Edit ``file`` with ``change``, or print the diff with ``--dry-run``."""
    from mlctl.cli import invocation
    from mlctl.cli import output as out
    from mlctl.spec import edit

    current = invocation.of(ctx)
    result = edit.edit(file, change, current.config(), dry_run=dry_run)
    current.out.problems(result.warnings)
    if dry_run:
        if result.diff:
            out.lines([result.diff])
        else:
            current.out.say(f"{file}: no change")
    else:
        current.out.say(f"{file}: {'updated' if result.written else 'no change'}")
    return 0


def _kind(file: str) -> str:
    from mlctl.spec import loader

    return str(loader.load_file(file).data.get("kind", ""))


@app.command("set-env")
def set_env(
    ctx: typer.Context,
    file: File,
    values: Annotated[
        list[str] | None,
        typer.Argument(help="K=V pairs (a bare K takes your environment's value).", show_default=False),
    ] = None,
    env_file: Annotated[
        list[str] | None,
        typer.Option("--file", help="Env file (python-dotenv format); repeatable.", show_default=False),
    ] = None,
    from_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--from-secret", help="NAME=SECRET[:KEY]: take NAME from a Kubernetes Secret.", show_default=False
        ),
    ] = None,
    dry_run: DryRun = False,
) -> int:
    """Set environment variables (fn.set_env / set_envs / set_env_from_secret)."""
    import os

    from mlctl.errors import UsageError
    from mlctl.spec import envfile, mutations
    from mlctl.spec import overrides as overrides_

    if not values and not env_file and not from_secret:
        raise UsageError("give K=V pairs, --file ENVFILE or --from-secret NAME=SECRET[:KEY]")
    pairs: list[tuple[str, str]] = []
    for path in env_file or []:
        pairs += list(envfile.read(path).items())
    pairs += list(overrides_.parse_env(values or [], os.environ, "set-env"))
    secrets = mutations.parse_secret_refs(from_secret or [])
    return _apply(ctx, file, lambda tree: mutations.set_env(tree, pairs, secrets), dry_run)


@app.command("set-thresholds")
def set_thresholds(
    ctx: typer.Context,
    file: File,
    values: Annotated[
        list[str], typer.Argument(help="STATE=TIME, e.g. pending_not_scheduled='1 min' running=2h.", show_default=False)
    ],
    replace: Annotated[bool, typer.Option("--replace", help="Drop thresholds not given here.")] = False,
    dry_run: DryRun = False,
) -> int:
    """Set state thresholds that abort stuck runs (fn.set_state_thresholds).

    States: pending_scheduled, pending_not_scheduled, image_pull_backoff,
    running (alias executing). TIME: '30s', '1h 30m', '1 minute and 30s', -1.
    """
    from mlctl.spec import mutations
    from mlctl.spec import overrides as overrides_

    pairs = {k: v or "" for k, v in overrides_.parse_pairs(values, "STATE=TIME")}
    return _apply(ctx, file, lambda tree: mutations.set_thresholds(tree, pairs, replace), dry_run)


@app.command("set-resources")
def set_resources(
    ctx: typer.Context,
    file: File,
    requests: Annotated[
        list[str] | None, typer.Option("--requests", help="cpu=1,memory=1Gi.", show_default=False)
    ] = None,
    limits: Annotated[
        list[str] | None, typer.Option("--limits", help="cpu=2,memory=2Gi,gpus=1.", show_default=False)
    ] = None,
    gpu_type: Annotated[
        str | None, typer.Option("--gpu-type", help="GPU resource name (default nvidia.com/gpu).", show_default=False)
    ] = None,
    patch: Annotated[
        bool, typer.Option("--patch", help="Merge into the existing section instead of replacing it.")
    ] = False,
    driver: Annotated[
        bool, typer.Option("--driver", help="Spark: the driver's resources (spec.driver_resources).")
    ] = False,
    executor: Annotated[
        bool, typer.Option("--executor", help="Spark: each executor's resources (spec.executor_resources).")
    ] = False,
    dry_run: DryRun = False,
) -> int:
    """Set CPU/memory/GPU requests and limits (fn.with_requests / with_limits; spark: --driver / --executor)."""
    from mlctl.cli import invocation
    from mlctl.errors import UsageError
    from mlctl.spec import mutations
    from mlctl.spec import overrides as overrides_

    req = overrides_.parse_resource_list(requests or [], "--requests")
    lim = overrides_.parse_resource_list(limits or [], "--limits")
    if not req and not lim:
        raise UsageError("give --requests and/or --limits")
    default_gpu = str(invocation.of(ctx).config().get("default_gpu_type"))
    sides = [side for side, given in (("driver", driver), ("executor", executor)) if given]
    return _apply(
        ctx, file, lambda tree: mutations.set_resources(tree, req, lim, gpu_type, default_gpu, patch, sides), dry_run
    )


@app.command("set-replicas")
def set_replicas(
    ctx: typer.Context,
    file: File,
    replicas: Annotated[int | None, typer.Argument(help="A fixed number of replicas.", show_default=False)] = None,
    low: Annotated[int | None, typer.Option("--min", help="Autoscaling minimum.", show_default=False)] = None,
    high: Annotated[int | None, typer.Option("--max", help="Autoscaling maximum.", show_default=False)] = None,
    dry_run: DryRun = False,
) -> int:
    """Set a fixed replica count, or a --min/--max range (dask, nuclio, serving)."""
    from mlctl.errors import UsageError
    from mlctl.spec import mutations

    if replicas is None and low is None and high is None:
        raise UsageError("give N, or --min and/or --max")
    if replicas is not None and (low is not None or high is not None):
        raise UsageError("give either N or --min/--max, not both")
    kind = _kind(file)
    return _apply(ctx, file, lambda tree: mutations.set_replicas(tree, kind, replicas, low, high), dry_run)


@app.command("set-preemption")
def set_preemption(
    ctx: typer.Context,
    file: File,
    mode: Annotated[str, typer.Argument(help="allow | constrain | prevent | none.", show_default=False)],
    dry_run: DryRun = False,
) -> int:
    """Choose spot vs on-demand nodes (fn.with_preemption_mode)."""
    from mlctl.spec import mutations

    return _apply(ctx, file, lambda tree: mutations.set_preemption(tree, mode), dry_run)


@app.command("set-priority")
def set_priority(
    ctx: typer.Context,
    file: File,
    name: Annotated[str, typer.Argument(help="Priority class name.", show_default=False)],
    dry_run: DryRun = False,
) -> int:
    """Set the pod priority class (fn.with_priority_class)."""
    from mlctl.spec import mutations

    return _apply(ctx, file, lambda tree: mutations.set_priority(tree, name), dry_run)


@app.command("set-node-selection")
def set_node_selection(
    ctx: typer.Context,
    file: File,
    node_selector: Annotated[
        list[str] | None,
        typer.Option("--node-selector", help="K=V; replaces the node selector; repeatable.", show_default=False),
    ] = None,
    node_name: Annotated[str | None, typer.Option("--node-name", help="Pin to one node.", show_default=False)] = None,
    toleration: Annotated[
        list[str] | None,
        typer.Option(
            "--toleration",
            help="key=value:Effect, key:Effect or JSON; replaces the tolerations; repeatable.",
            show_default=False,
        ),
    ] = None,
    affinity: Annotated[
        str | None, typer.Option("--affinity", help="Affinity as JSON; replaces it.", show_default=False)
    ] = None,
    dry_run: DryRun = False,
) -> int:
    """Set node selector, node name, tolerations, affinity (fn.with_node_selection)."""
    import json

    from mlctl.errors import InvalidInput, UsageError
    from mlctl.spec import mutations
    from mlctl.spec import overrides as overrides_

    if node_selector is None and node_name is None and toleration is None and affinity is None:
        raise UsageError("give --node-selector, --node-name, --toleration or --affinity")
    selector = (
        {k: v or "" for k, v in overrides_.parse_pairs(node_selector, "--node-selector")}
        if node_selector is not None
        else None
    )
    tolerations = [mutations.parse_toleration(t) for t in toleration] if toleration is not None else None
    parsed_affinity = None
    if affinity is not None:
        try:
            parsed_affinity = json.loads(affinity)
        except ValueError as exc:
            raise InvalidInput(f"--affinity: not valid JSON ({exc})") from None
    return _apply(
        ctx,
        file,
        lambda tree: mutations.set_node_selection(tree, selector, node_name, tolerations, parsed_affinity),
        dry_run,
    )


@app.command("mount")
def mount(
    ctx: typer.Context,
    file: File,
    kind: Annotated[str, typer.Argument(help="pvc | configmap | secret | v3io.", show_default=False)],
    name: Annotated[
        str | None,
        typer.Argument(
            help="PVC, ConfigMap or Secret name (for v3io: the Secret holding accessKey).", show_default=False
        ),
    ] = None,
    path: Annotated[str | None, typer.Argument(help="Mount path in the container.", show_default=False)] = None,
    volume_name: Annotated[
        str | None,
        typer.Option(
            "--volume-name", help="Volume name (default: pipeline, configmap, secret, v3io).", show_default=False
        ),
    ] = None,
    item: Annotated[
        list[str] | None,
        typer.Option("--item", help="KEY=PATH: mount only these keys (configmap, secret).", show_default=False),
    ] = None,
    remote: Annotated[
        str | None,
        typer.Option("--remote", help="v3io: container path such as projects/proj1/data.", show_default=False),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="v3io: also mount the user's home at /User.", show_default=False)
    ] = None,
    dry_run: DryRun = False,
) -> int:
    """Mount a volume: a PVC, a ConfigMap, a Secret or v3io (its access key stays in a Secret)."""
    from mlctl.errors import UsageError
    from mlctl.spec import mutations
    from mlctl.spec import overrides as overrides_

    items = {k: v or k for k, v in overrides_.parse_pairs(item or [], "--item")}
    if kind == "v3io":
        if not name:
            raise UsageError("mount v3io SECRET [PATH]: name the Secret holding the access key (key 'accessKey')")
        return _apply(
            ctx,
            file,
            lambda tree: mutations.mount_v3io(tree, name, remote or "", path or "", user or "", volume_name or "v3io"),
            dry_run,
        )
    if kind not in ("pvc", "configmap", "secret"):
        raise UsageError(f"mount kind '{kind}': choose pvc, configmap, secret or v3io")
    if not name or not path:
        raise UsageError(f"mount {kind} NAME PATH: both are needed")
    if kind == "pvc":
        return _apply(ctx, file, lambda tree: mutations.mount_pvc(tree, name, path, volume_name or "pipeline"), dry_run)
    if kind == "configmap":
        return _apply(
            ctx,
            file,
            lambda tree: mutations.mount_configmap(tree, name, path, volume_name or "configmap", items),
            dry_run,
        )
    return _apply(
        ctx, file, lambda tree: mutations.mount_secret(tree, name, path, volume_name or "secret", items), dry_run
    )


@app.command("new")
def new(
    ctx: typer.Context,
    kind: Annotated[
        str, typer.Argument(help="job | mpijob | dask | nuclio | serving | application | spark.", show_default=False)
    ],
    name: Annotated[str, typer.Argument(help="Function name.", show_default=False)],
    from_file: Annotated[
        str | None, typer.Option("--from-file", help="Python file to embed as the function's code.", show_default=False)
    ] = None,
    handler: Annotated[
        str | None, typer.Option("--handler", help="Handler function in the code.", show_default=False)
    ] = None,
    image: Annotated[str, typer.Option("--image", help="Container image.")] = "python:3.11-slim",
    output_file: Annotated[
        str | None,
        typer.Option(
            "--output-file", "-f", help="Write here instead of stdout (refuses to overwrite).", show_default=False
        ),
    ] = None,
) -> int:
    """Write a fresh spec (the counterpart of mlrun.code_to_function)."""
    from pathlib import Path

    from mlctl.cli import invocation
    from mlctl.errors import InvalidInput
    from mlctl.pipeline import check
    from mlctl.spec import edit, loader, mutations, validate

    if kind not in validate.SUPPORTED_KINDS:
        raise InvalidInput(f"kind '{kind}' is not one of {', '.join(validate.SUPPORTED_KINDS)}")
    code = None
    filename = ""
    if from_file:
        try:
            code = Path(from_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"{from_file}: cannot read ({exc.strerror})") from None
        filename = Path(from_file).name
    data = mutations.new_function(kind, name, image, code, filename, handler or ("handler" if code else ""))
    text = edit.dump(data)
    check(loader.load_text(text, output_file or "<new>"), invocation.of(ctx).config())
    if output_file:
        target = Path(output_file)
        if target.exists():
            raise InvalidInput(f"{output_file}: exists; not overwriting it")
        edit.write_atomic(target, text)
        invocation.of(ctx).out.say(f"{output_file}: written")
    else:
        import sys

        sys.stdout.write(text)
    return 0
