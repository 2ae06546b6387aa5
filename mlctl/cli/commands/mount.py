"""``mlctl mount``: mount a PVC, ConfigMap, Secret or v3io volume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from mlctl.cli import editing
from mlctl.cli.main import app


@app.command("mount")
def mount(
    ctx: typer.Context,
    file: editing.File,
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
    dry_run: editing.DryRun = False,
) -> int:
    """Mount a volume: a PVC, a ConfigMap, a Secret or v3io (its access key stays in a Secret)."""
    from mlctl.spec import overrides as overrides_

    items = {k: v or k for k, v in overrides_.parse_pairs(item or [], "--item")}
    change = _change(kind, name, path, volume_name, items, remote or "", user or "")
    return editing.apply(ctx, file, change, dry_run)


def _change(
    kind: str,
    name: str | None,
    path: str | None,
    volume_name: str | None,
    items: dict[str, str],
    remote: str,
    user: str,
) -> Callable[[Any], None]:
    """The edit that mounts one volume of ``kind``; a usage error when its arguments do not fit it."""
    from mlctl.errors import UsageError
    from mlctl.spec import mutations

    if kind == "v3io":
        if not name:
            raise UsageError("mount v3io SECRET [PATH]: name the Secret holding the access key (key 'accessKey')")
        return lambda tree: mutations.mount_v3io(tree, name, remote, path or "", user, volume_name or "v3io")
    if kind not in ("pvc", "configmap", "secret"):
        raise UsageError(f"mount kind '{kind}': choose pvc, configmap, secret or v3io")
    if not name or not path:
        raise UsageError(f"mount {kind} NAME PATH: both are needed")
    if kind == "pvc":
        return lambda tree: mutations.mount_pvc(tree, name, path, volume_name or "pipeline")
    if kind == "configmap":
        return lambda tree: mutations.mount_configmap(tree, name, path, volume_name or "configmap", items)
    return lambda tree: mutations.mount_secret(tree, name, path, volume_name or "secret", items)
