"""Commands that edit the Nuclio triggers of a spec in place (nuclio, serving, application).

``set-http`` ~ ``fn.with_http``; ``add-stream-trigger`` ~
``fn.add_v3io_stream_trigger``. Like the other editing commands they keep
comments and layout, refuse a result that does not validate, and print the
diff with ``--dry-run``. The changes themselves live in ``mlctl.spec.triggers``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlctl.cli.commands.edit import DryRun, File, _apply
from mlctl.cli.main import app


def _option(*names: str, help: str) -> Any:
    return typer.Option(*names, help=help, show_default=False)


@app.command("set-http")
def set_http(
    ctx: typer.Context,
    file: File,
    workers: Annotated[
        int, _option("--workers", help="HTTP workers per replica (with GPUs: as many as GPUs per pod).")
    ],
    worker_timeout: Annotated[
        int | None, _option("--worker-timeout", help="Seconds a request may wait for a free worker.")
    ] = None,
    gateway_timeout: Annotated[
        int | None,
        _option("--gateway-timeout", help="Seconds before the ingress gives up (default: worker timeout + 60)."),
    ] = None,
    host: Annotated[str | None, _option("--host", help="Ingress host name.")] = None,
    path: Annotated[list[str] | None, _option("--path", help="Ingress path (default /); repeatable.")] = None,
    port: Annotated[int | None, _option("--port", help="Node port (with service type NodePort).")] = None,
    canary: Annotated[int | None, _option("--canary", help="Percent of the host's traffic sent here (0-100).")] = None,
    secret: Annotated[str | None, _option("--secret", help="TLS Secret of the ingress.")] = None,
    annotation: Annotated[
        list[str] | None, _option("--annotation", help="K=V annotation of the trigger; repeatable.")
    ] = None,
    dry_run: DryRun = False,
) -> int:
    """Set the HTTP trigger: workers, timeouts, ingress (fn.with_http). Replaces the old trigger."""
    from mlctl.spec import overrides as overrides_
    from mlctl.spec import triggers

    annotations = {k: v or "" for k, v in overrides_.parse_pairs(annotation or [], "--annotation")}
    return _apply(
        ctx,
        file,
        lambda tree: triggers.set_http(
            tree,
            workers,
            worker_timeout=worker_timeout,
            gateway_timeout=gateway_timeout,
            host=host,
            paths=path or [],
            port=port,
            canary=canary,
            secret=secret,
            annotations=annotations,
        ),
        dry_run,
    )


@app.command("add-stream-trigger")
def add_stream_trigger(
    ctx: typer.Context,
    file: File,
    stream_path: Annotated[
        str, typer.Argument(help="v3io stream, e.g. v3io:///projects/myproj/stream1.", show_default=False)
    ],
    name: Annotated[str, typer.Option("--name", help="Trigger name.")] = "stream",
    group: Annotated[str, typer.Option("--group", help="Consumer group.")] = "serving",
    seek_to: Annotated[str, typer.Option("--seek-to", help="earliest | latest.")] = "earliest",
    shards: Annotated[int, typer.Option("--shards", help="Stream shards; sets min and max replicas to this.")] = 1,
    max_workers: Annotated[int, typer.Option("--max-workers", help="Workers per replica.")] = 1,
    access_key_secret: Annotated[
        str | None,
        _option(
            "--access-key-secret", help="Secret holding the v3io access key (key 'accessKey'); becomes V3IO_ACCESS_KEY."
        ),
    ] = None,
    dry_run: DryRun = False,
) -> int:
    """Add a v3io stream trigger (fn.add_v3io_stream_trigger). The access key stays in a Secret."""
    from mlctl.cli import invocation
    from mlctl.spec import loader, triggers

    result = _apply(
        ctx,
        file,
        lambda tree: triggers.add_stream_trigger(
            tree,
            stream_path,
            name=name,
            group=group,
            seek_to=seek_to,
            shards=shards,
            max_workers=max_workers,
            access_key_secret=access_key_secret,
        ),
        dry_run,
    )
    if not access_key_secret:
        env = (loader.load_file(file).data.get("spec") or {}).get("env") or []
        if not any(isinstance(e, dict) and e.get("name") == triggers.ACCESS_KEY_ENV for e in env):
            invocation.of(ctx).out.say(
                f"note: the trigger reads its access key from {triggers.ACCESS_KEY_ENV}, which this function "
                "does not set; add --access-key-secret SECRET (or set-env --from-secret)",
                "yellow",
            )
    return result
