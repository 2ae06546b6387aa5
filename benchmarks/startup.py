"""Cold start of mlctl against the libraries it cannot avoid, in the same interpreter.

    python benchmarks/startup.py [--runs N]

Prints, for each pair, the median wall time of N fresh processes and the
ratio; the goal is at most 1.25x:

- ``mlctl --help`` vs ``python -c "import typer"``
- ``mlctl validate specs-examples/hello.yaml`` vs
  ``python -c "import typer, ruamel.yaml, jsonschema"``

A figure, not a test: timings depend on the machine. Exits 0 either way.
"""

from __future__ import annotations

import argparse
import sys

from _timing import REPO, environment, median_seconds, mlctl_command

GOAL = 1.25


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per command (default 21)")
    args = parser.parse_args()
    env = environment()
    mlctl = mlctl_command()
    pairs = [
        ("mlctl --help", [*mlctl, "--help"], 'python -c "import typer"', [sys.executable, "-c", "import typer"]),
        (
            "mlctl validate specs-examples/hello.yaml",
            [*mlctl, "validate", str(REPO / "specs-examples/hello.yaml")],
            'python -c "import typer, ruamel.yaml, jsonschema"',
            [sys.executable, "-c", "import typer, ruamel.yaml, jsonschema"],
        ),
    ]
    print(f"python {sys.version.split()[0]} ({sys.executable}); {args.runs} runs each; median wall time")
    for name, command, base_name, base in pairs:
        ours, theirs = median_seconds([command, base], args.runs, env)
        ratio = ours / theirs
        verdict = "ok" if ratio <= GOAL else f"MISSED (goal <= {GOAL}x)"
        print(f"{name:<45} {ours * 1000:7.1f} ms")
        print(f"{base_name:<45} {theirs * 1000:7.1f} ms")
        print(f"{'ratio':<45} {ratio:7.2f}x  {verdict}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
