"""``mlctl set-http``: set the HTTP trigger of a Nuclio or serving function."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("set-http")
def set_http(
    ctx: typer.Context,
    file: editing.File,
    workers: Annotated[
        int, editing.option("--workers", help="HTTP workers per replica (with GPUs: as many as GPUs per pod).")
    ],
    worker_timeout: Annotated[
        int | None, editing.option("--worker-timeout", help="Seconds a request may wait for a free worker.")
    ] = None,
    gateway_timeout: Annotated[
        int | None,
        editing.option("--gateway-timeout", help="Seconds before the ingress gives up (default: worker timeout + 60)."),
    ] = None,
    host: Annotated[str | None, editing.option("--host", help="Ingress host name.")] = None,
    path: Annotated[list[str] | None, editing.option("--path", help="Ingress path (default /); repeatable.")] = None,
    port: Annotated[int | None, editing.option("--port", help="Node port (with service type NodePort).")] = None,
    canary: Annotated[
        int | None, editing.option("--canary", help="Percent of the host's traffic sent here (0-100).")
    ] = None,
    secret: Annotated[str | None, editing.option("--secret", help="TLS Secret of the ingress.")] = None,
    annotation: Annotated[
        list[str] | None, editing.option("--annotation", help="K=V annotation of the trigger; repeatable.")
    ] = None,
    dry_run: editing.DryRun = False,
) -> int:
    """Set the HTTP trigger: workers, timeouts, ingress (fn.with_http). Replaces the old trigger."""
    from mlctl.spec import overrides as overrides_
    from mlctl.spec import triggers

    annotations = {k: v or "" for k, v in overrides_.parse_pairs(annotation or [], "--annotation")}
    return editing.apply(
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
