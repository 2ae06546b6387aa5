"""Large and hostile inputs: how long mlctl takes and how much memory it needs.

    python benchmarks/large_inputs.py

Prints, for each input, the exit code, the wall time and the peak memory
(maximum resident set) of one ``mlctl`` process:

- ``render`` with an env file of 40,000 variables (YAML and JSON output),
  ``set-env --file`` of the same file into a small spec, and the same number
  of variables merged by ``overrides.set_envs`` in-process;
- ``render`` of a spec just under the input limit (``loader.MAX_BYTES``:
  embedded code of that size);
- ``render`` of a 50 MB spec, refused at the size limit;
- ``validate`` of an alias bomb (a few hundred bytes that expand to 10^14
  values), refused without walking the expansion.

A figure, not a test: timings depend on the machine. Exits 0 either way.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import REPO, environment, mlctl_command

sys.path.insert(0, str(REPO))

from mlctl.spec import loader, overrides  # the checkout's package, found through REPO

VARIABLES = 40_000
HUGE_BYTES = 50 * 1024 * 1024


def measure(argv: list[str], cwd: Path) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, peak resident MiB and the last line of stderr of one process."""
    started = time.monotonic()
    with subprocess.Popen(
        argv, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        err = proc.stderr.read() if proc.stderr else ""
        proc.returncode = os.waitstatus_to_exitcode(status)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return proc.returncode, wall, usage.ru_maxrss / 1024, last


def spec(code: bytes = b"def handler():\n    return 1\n") -> str:
    encoded = base64.b64encode(code).decode()
    return (
        "kind: job\nmetadata:\n  name: big\nspec:\n  image: python:3.11\n  default_handler: handler\n"
        f"  build:\n    functionSourceCode: {encoded}\n"
    )


def alias_bomb() -> str:
    lines = ["kind: job", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 14)]
    return "\n".join(lines) + "\n"


def main() -> int:
    mlctl = mlctl_command()
    print(
        f"python {sys.version.split()[0]}; input limit {loader.MAX_BYTES:,} bytes, {loader.MAX_DEPTH} levels, "
        f"{loader.MAX_NODES:,} values after aliases"
    )
    with tempfile.TemporaryDirectory(prefix="mlctl-large-") as folder:
        tmp = Path(folder)
        (tmp / "small.yaml").write_text(spec())
        (tmp / "edited.yaml").write_text(spec())
        (tmp / "vars.env").write_text("".join(f"VAR_{i}=value-{i}\n" for i in range(VARIABLES)))
        # base64 grows code by 4/3: embed as much as fits under the limit
        code = b"# filler\n" * ((loader.MAX_BYTES - 4096) * 3 // 4 // 9)
        (tmp / "at-limit.yaml").write_text(spec(code))
        (tmp / "huge.yaml").write_text(spec(b"x" * (HUGE_BYTES * 3 // 4)))
        (tmp / "bomb.yaml").write_text(alias_bomb())
        runs = [
            (f"render, env file of {VARIABLES:,} variables", ["render", "small.yaml", "--env-file", "vars.env"]),
            (
                f"render -o json, env file of {VARIABLES:,} variables",
                ["render", "small.yaml", "--env-file", "vars.env", "-o", "json"],
            ),
            (f"set-env --file, {VARIABLES:,} variables", ["set-env", "edited.yaml", "--file", "vars.env"]),
            (
                f"render, spec at the limit ({(tmp / 'at-limit.yaml').stat().st_size / 2**20:.1f} MiB)",
                ["render", "at-limit.yaml", "-o", "name"],
            ),
            (f"render, {(tmp / 'huge.yaml').stat().st_size / 2**20:.0f} MiB spec (refused)", ["render", "huge.yaml"]),
            (
                f"validate, alias bomb of {(tmp / 'bomb.yaml').stat().st_size} bytes (refused)",
                ["validate", "bomb.yaml"],
            ),
        ]
        print(f"{'input':<52} {'exit':>4} {'wall s':>8} {'peak MiB':>9}  message")
        for label, args in runs:
            code_, wall, peak, last = measure([*mlctl, *args], tmp)
            print(f"{label:<52} {code_:>4} {wall:>8.2f} {peak:>9.0f}  {last[:70]}")
    env: list[object] = []
    started = time.process_time()
    overrides.set_envs(env, [(f"VAR_{i}", str(i)) for i in range(VARIABLES)])
    print(
        f"{'overrides.set_envs, ' + format(VARIABLES, ',') + ' variables (in-process CPU)':<52} {'':>4} "
        f"{time.process_time() - started:>8.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
