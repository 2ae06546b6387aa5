"""What the commands that edit a spec in place share: the file argument, ``--dry-run``, and the edit itself.

Each editing command (``mlctl.cli.commands.set_env`` and its neighbours, one
per MLRun SDK setter) writes the file atomically, keeps comments, key order
and quoting, refuses a result that does not validate, and with
``--dry-run`` prints the diff instead of writing. The changes themselves
live in ``mlctl.spec.mutations`` and ``mlctl.spec.triggers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

File = Annotated[str, typer.Argument(help="Spec file to edit in place.", show_default=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the diff; write nothing.")]


def option(*names: str, help: str) -> Any:
    """An option without a shown default (most editing options have none worth showing)."""
    return typer.Option(*names, help=help, show_default=False)


def apply(ctx: typer.Context, file: str, change: Callable[[Any], None], dry_run: bool) -> int:
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


def kind(file: str) -> str:
    """The spec's ``kind``, for commands whose meaning depends on it."""
    from mlctl.spec import loader

    return str(loader.load_file(file).data.get("kind", ""))
