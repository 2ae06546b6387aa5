"""``mlctl set-resources``: set CPU, memory and GPU requests and limits."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("set-resources")
def set_resources(
    ctx: typer.Context,
    file: editing.File,
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
    dry_run: editing.DryRun = False,
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
    return editing.apply(
        ctx, file, lambda tree: mutations.set_resources(tree, req, lim, gpu_type, default_gpu, patch, sides), dry_run
    )
