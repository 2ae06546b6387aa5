"""``mlctl add-stream-trigger``: add a v3io stream trigger to a Nuclio or serving function."""

from __future__ import annotations

from typing import Annotated

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("add-stream-trigger")
def add_stream_trigger(
    ctx: typer.Context,
    file: editing.File,
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
        editing.option(
            "--access-key-secret", help="Secret holding the v3io access key (key 'accessKey'); becomes V3IO_ACCESS_KEY."
        ),
    ] = None,
    dry_run: editing.DryRun = False,
) -> int:
    """Add a v3io stream trigger (fn.add_v3io_stream_trigger). The access key stays in a Secret."""
    from mlctl.cli import invocation
    from mlctl.spec import loader, triggers

    result = editing.apply(
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
