"""The parent of a local run's process: it takes the run's whole tree with it if mlctl dies.

    python guard.py ARGV...

Started by ``mlctl.local.runner`` in place of the run's own command (Linux
only). It adopts every orphan of the run (a child subreaper), so a daemon or
a ``setsid`` grandchild stays below it; when mlctl dies, even by SIGKILL,
the kernel sends it SIGUSR2 (its parent-death signal) and it kills every
process below it before exiting. Otherwise it is transparent: it ignores
the SIGTERM and SIGINT that mlctl sends the run's process group (the run
itself gets them), and exits as the command did, with its code or signal.

Standard library only; it must not import mlctl.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PARENT_DIED = signal.SIGUSR2


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
    found: set[int] = set()
    level = {root}
    while level:
        level = {pid for pid, parent in parents.items() if parent in level} - found
        found |= level
    return found


def _kill_everything(_signum: int = 0, _frame: object = None) -> None:
    me = os.getpid()
    for _ in range(20):
        below = _descendants(me)
        if not below:
            break
        for pid in below:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
    os._exit(128 + _PARENT_DIED)


def main(argv: list[str]) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getppid()
    signal.signal(_PARENT_DIED, _kill_everything)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    libc.prctl(_PR_SET_PDEATHSIG, int(_PARENT_DIED))
    if os.getppid() != parent:  # mlctl died before the death signal was set
        _kill_everything()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        child = os.fork()
    except OSError as exc:
        print(f"cannot start {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    if child == 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, _PARENT_DIED):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            print(f"cannot start {argv[0]}: {exc.strerror}", file=sys.stderr)
            os._exit(127)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)  # also reaps adopted orphans
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if pid == child:
            break
    if os.WIFSIGNALED(status):
        died_of = os.WTERMSIG(status)
        signal.signal(died_of, signal.SIG_DFL)
        os.kill(os.getpid(), died_of)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
