"""``mlctl hub list|show|pull``: browse an MLRun function hub and copy specs from it.

Every spec-taking command already accepts ``hub://NAME[:TAG]`` (through
``mlctl.pipeline.read``); these commands find what the hub holds. Downloads
and warnings are drawn on stderr by the invocation's hub reporter, as for
every other command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli import output as out
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.cli.invocation import Invocation
    from mlctl.hub import catalog as catalog_

hub_app = typer.Typer(
    help="Browse MLRun function hubs and copy specs from them. Any command that takes a spec "
    "file also takes hub://NAME[:TAG] (latest when no tag).",
    no_args_is_help=True,
)
app.add_typer(hub_app, name="hub")

HubUrl = Annotated[
    str | None,
    typer.Option(
        "--hub",
        help="Hub root: http(s)://..., file://... or a directory in MLRun's hub layout "
        "(default: the hub_url setting / MLCTL_HUB_URL, else the public MLRun hub).",
        show_default=False,
    ),
]
Channel = Annotated[
    str | None,
    typer.Option(
        "--channel",
        help="Hub channel (default: MLCTL_HUB_CHANNEL, else master).",
        show_default=False,
    ),
]
RefArg = Annotated[
    str,
    typer.Argument(
        help="NAME[:TAG] or hub://NAME[:TAG]; no tag means latest.",
        show_default=False,
    ),
]
Category = Annotated[
    str | None,
    typer.Option(
        "--category",
        "-c",
        help="Only functions in this category.",
        show_default=False,
    ),
]
ListFormat = Annotated[str, opt.formats("table", "json", "yaml", "name")]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing file.")]
PullTo = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="File or directory to write (default: ./NAME.yaml; '-' for stdout).",
        show_default=False,
    ),
]

_DESCRIPTION_WIDTH = 60


def _hub_source(current: Invocation, hub_url: str | None) -> str:
    # resolved here rather than in mlctl.hub so that --config FILE counts
    return hub_url if hub_url is not None else str(current.config().get("hub_url") or "")


@hub_app.command("list")
def list_(
    ctx: typer.Context,
    category: Category = None,
    output: ListFormat = "table",
    hub_url: HubUrl = None,
    channel: Channel = None,
) -> int:
    """List the hub's functions, the latest version of each.

    Columns: name, version, kind, categories, description.
    """
    from mlctl import hub
    from mlctl.cli import invocation

    current = invocation.of(ctx)
    source, reporter = _hub_source(current, hub_url), current.hub_reporter()
    entries = hub.list_functions(category, source=source, channel=channel, reporter=reporter)
    if output in ("json", "yaml"):
        out.emit([e.summary() for e in entries], output)
    elif output == "name":
        out.lines(e.name for e in entries)
    else:
        _table(entries)
    if not entries:
        current.out.say(f"no functions in category '{category}'" if category else "the hub lists no functions")
    return 0


def _table(entries: list[catalog_.Entry]) -> None:
    rows = [("NAME", "VERSION", "KIND", "CATEGORIES", "DESCRIPTION")]
    for e in entries:
        text = " ".join(e.description.split())
        if len(text) > _DESCRIPTION_WIDTH:
            text = text[: _DESCRIPTION_WIDTH - 3] + "..."
        rows.append((e.name, e.version, e.kind, ",".join(e.categories), text))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        sys.stdout.write("  ".join([*cells, row[4]]).rstrip() + "\n")
    sys.stdout.flush()


@hub_app.command("show")
def show(
    ctx: typer.Context,
    ref: RefArg,
    output: Annotated[str, opt.formats("yaml", "json")] = "yaml",
    hub_url: HubUrl = None,
    channel: Channel = None,
) -> int:
    """Show one function's catalog entry and every version it has.

    Includes its kind, image, handler, categories and the URL of its spec.
    """
    from mlctl import hub
    from mlctl.cli import invocation

    current = invocation.of(ctx)
    shown = hub.show(ref, source=_hub_source(current, hub_url), channel=channel, reporter=current.hub_reporter())
    out.emit(shown.as_data(), output)
    return 0


@hub_app.command("pull")
def pull(
    ctx: typer.Context,
    ref: RefArg,
    output: PullTo = None,
    force: Force = False,
    hub_url: HubUrl = None,
    channel: Channel = None,
) -> int:
    """Copy a function's spec from the hub into a local file.

    Writes the hub's function.yaml as is, to edit or to pin; an existing file
    is kept unless --force. The file appears whole or not at all.
    """
    from mlctl import hub
    from mlctl.cli import invocation

    current = invocation.of(ctx)
    source, reporter = _hub_source(current, hub_url), current.hub_reporter()
    if output == "-":
        fetched = hub.fetch(ref, source=source, channel=channel, reporter=reporter)
        sys.stdout.write(fetched.text)
        sys.stdout.flush()
        return 0
    dest = Path(output) if output else None
    pulled = hub.pull(ref, dest, force=force, source=source, channel=channel, reporter=reporter)
    digest = pulled.fetched.sha256[:12]
    current.out.say(f"wrote {pulled.path} from {pulled.fetched.label} (sha256 {digest})", "green")
    return 0
