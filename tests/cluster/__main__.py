"""Run the integration testbed by hand.

    python -m tests.cluster up [--workdir DIR] [--keep]

builds the binaries if needed, starts the cluster, prints the ``export`` lines
to use it (kubectl, mlctl, or ``pytest tests/integration`` through
``MLCTL_TESTBED_KUBECONFIG``) and stays in the foreground until Ctrl-C, which
stops every component.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from tests.cluster.testbed import NODES, Testbed, TestbedError, build


def _up(workdir: Path | None, keep: bool) -> int:
    try:
        builds = build()
    except TestbedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    testbed = Testbed(builds, workdir=workdir, keep=keep)

    # Ctrl-C, SIGTERM and a closed terminal all end the run the same way, so
    # the components always stop (SIGINT is set explicitly because a shell
    # starting us in the background leaves it ignored).
    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    try:
        testbed.start()
        print(
            f"testbed up in {testbed.startup_seconds:.1f}s: {testbed.server}, nodes {', '.join(n.name for n in NODES)}",
            file=sys.stderr,
        )
        print(f"logs in {testbed.workdir}; Ctrl-C stops it", file=sys.stderr)
        print(f"export KUBECONFIG={testbed.kubeconfig}")
        print(f"export MLCTL_TESTBED_KUBECONFIG={testbed.kubeconfig}")
        print(f"# restricted user: {testbed.restricted_kubeconfig}")
        print(f"export PATH={builds.k8s}:$PATH", flush=True)
        while True:
            testbed.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
        return 0
    except TestbedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        testbed.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the testbed and keep it running until Ctrl-C")
    up.add_argument(
        "--workdir", type=Path, help="directory for certs, kubeconfigs and logs (default: a new temporary directory)"
    )
    up.add_argument("--keep", action="store_true", help="keep the work dir after stopping")
    args = parser.parse_args(argv)
    return _up(args.workdir, args.keep)


if __name__ == "__main__":
    sys.exit(main())
