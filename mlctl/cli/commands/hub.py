"""``mlctl hub list|show|pull``: browse an MLRun function hub and copy specs from it.

Every spec-taking command already accepts ``hub://NAME[:TAG]`` (through
``mlctl.pipeline.read``); these commands find what the hub holds. Importing
this module also installs the reporter that draws hub downloads and
warnings on stderr for every command, since ``mlctl.hub`` must not print.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli import output as out
from mlctl.cli.main import app
from mlctl.hub import report

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

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
ListFormat = Annotated[str, typer.Option("--output", "-o", help="table | json | yaml | name.")]
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


class _StderrReporter(report.Reporter):
    """Hub downloads as a rich progress bar (plain lines off a terminal), warnings in yellow."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def warn(self, message: str) -> None:
        out.say(f"warning: {message}", "yellow")

    def download_started(self, url: str, total: int | None) -> None:
        if not out.fancy():
            out.say(f"fetching {url}")
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=out.console(), transient=True
            )
            self._bar.start()
        self._tasks[url] = self._bar.add_task(_short(url), total=total)

    def download_progress(self, url: str, done: int, total: int | None) -> None:
        if self._bar is not None and url in self._tasks:
            self._bar.update(self._tasks[url], completed=done, total=total)

    def download_finished(self, url: str) -> None:
        if self._bar is None or url not in self._tasks:
            return
        self._bar.remove_task(self._tasks.pop(url))
        if not self._tasks:
            self._bar.stop()
            self._bar = None


def _short(url: str) -> str:
    """The part of a hub URL that tells downloads apart: NAME/TAG/src/function.yaml."""
    parts = url.split("/")
    return "/".join(parts[-4:]) if len(parts) > 4 else url


def install_reporter() -> report.Reporter:
    """Draw hub progress and warnings on stderr from now on; return the reporter replaced."""
    return report.install(_StderrReporter())


install_reporter()


def _hub_source(hub_url: str | None) -> str:
    from mlctl.cli import state

    # resolved here rather than in mlctl.hub so that --config FILE counts
    return hub_url if hub_url is not None else str(state.config().get("hub_url") or "")


@hub_app.command("list")
def list_(
    category: Category = None,
    output: ListFormat = "table",
    hub_url: HubUrl = None,
    channel: Channel = None,
) -> int:
    """List the hub's functions, the latest version of each.

    Columns: name, version, kind, categories, description.
    """
    from mlctl import hub

    fmt = opt.check_output(output, ("table", "json", "yaml", "name"))
    entries = hub.list_functions(category, source=_hub_source(hub_url), channel=channel)
    if fmt in ("json", "yaml"):
        out.emit([e.summary() for e in entries], fmt)
    elif fmt == "name":
        sys.stdout.write("".join(f"{e.name}\n" for e in entries))
    else:
        _table(entries)
    if not entries:
        out.say(f"no functions in category '{category}'" if category else "the hub lists no functions")
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
    ref: RefArg,
    output: Annotated[str, typer.Option("--output", "-o", help="yaml | json.")] = "yaml",
    hub_url: HubUrl = None,
    channel: Channel = None,
) -> int:
    """Show one function's catalog entry and every version it has.

    Includes its kind, image, handler, categories and the URL of its spec.
    """
    from mlctl import hub

    fmt = opt.check_output(output, ("yaml", "json"))
    shown = hub.show(ref, source=_hub_source(hub_url), channel=channel)
    out.emit(shown.as_data(), fmt)
    return 0


@hub_app.command("pull")
def pull(
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

    source = _hub_source(hub_url)
    if output == "-":
        fetched = hub.fetch(ref, source=source, channel=channel)
        sys.stdout.write(fetched.text)
        sys.stdout.flush()
        return 0
    dest = Path(output) if output else None
    pulled = hub.pull(ref, dest, force=force, source=source, channel=channel)
    digest = pulled.fetched.sha256[:12]
    out.say(f"wrote {pulled.path} from {pulled.fetched.label} (sha256 {digest})", "green")
    return 0
