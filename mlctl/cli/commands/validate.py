"""``mlctl validate FILE...``: every problem of every spec, sorted, at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlctl.cli import options as opt
from mlctl.cli.main import app

if TYPE_CHECKING:
    from mlctl.cli.invocation import Invocation
    from mlctl.errors import Problem

Output = Annotated[str, opt.formats("text", "json")]


@app.command()
def validate(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Spec files or hub:// references.", show_default=False)],
    output: Output = "text",
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> int:
    """Check specs against the schema and mlctl's rules; exit 3 on any error.

    Problems print as FILE:LINE:COL: path: message (hint).
    """
    from mlctl.cli import invocation
    from mlctl.cli import output as out
    from mlctl.errors import ExitCode

    current = invocation.of(ctx)
    found = _problems(current, files)
    failed = any(p.severity == "error" or strict for p in found)
    if output == "json":
        out.emit({"valid": not failed, "files": len(files), "problems": [_json(p) for p in found]}, "json")
    elif failed:
        current.out.problems(found)
        count = sum(1 for p in found if p.severity == "error" or strict)
        current.out.say(f"error: {count} problem{'s' if count != 1 else ''} found", "bold red")
    else:
        current.out.problems(found)
        current.out.say(f"{len(files)} spec{'s' if len(files) != 1 else ''} valid", "green")
    return ExitCode.INVALID_INPUT if failed else ExitCode.OK


def _problems(current: Invocation, files: list[str]) -> list[Problem]:
    """Every problem of every file, sorted; one that cannot be read is a problem too."""
    from mlctl import pipeline
    from mlctl.errors import InvalidInput, Problem

    config = current.config()
    found: list[Problem] = []
    for source in files:
        try:
            found += pipeline.check(pipeline.read(source, config, current.reporter_for(source)), config)
        except InvalidInput as exc:
            found += exc.problems or [Problem("", 0, 0, "", exc.message)]
    return sorted(found)


def _json(problem: Problem) -> dict[str, object]:
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "path": problem.path,
        "message": problem.message,
        "hint": problem.hint,
        "severity": problem.severity,
    }
