"""Run the integration testbed by hand.

    python -m tests.cluster up [--workdir DIR] [--keep]
                               [--bulk-nodes N --pods-per-node P --client-qps Q]

builds the binaries if needed, starts the cluster, prints the ``export`` lines
to use it (kubectl, mlctl, or ``pytest tests/integration`` through
``MLCTL_TESTBED_KUBECONFIG``) and stays in the foreground until Ctrl-C, which
stops every component. The load benchmarks' cluster: ``--bulk-nodes 50
--pods-per-node 250 --client-qps 200`` carries 5,000 live runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from tests.cluster.testbed import Testbed, TestbedError, build


def _up(workdir: Path | None, keep: bool, bulk_nodes: int, pods_per_node: int, client_qps: int) -> int:
    try:
        builds = build()
    except TestbedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    testbed = Testbed(
        builds, workdir=workdir, keep=keep, bulk_nodes=bulk_nodes, pods_per_node=pods_per_node, client_qps=client_qps
    )

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
            f"testbed up in {testbed.startup_seconds:.1f}s: {testbed.server}, {len(testbed.nodes)} nodes",
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
    up.add_argument("--bulk-nodes", type=int, default=0, help="extra plain on-demand nodes for load (bulk-1..N)")
    up.add_argument("--pods-per-node", type=int, default=110, help="pod capacity of each bulk node")
    up.add_argument("--client-qps", type=int, default=0, help="request rate of the controller manager and scheduler")
    args = parser.parse_args(argv)
    return _up(args.workdir, args.keep, args.bulk_nodes, args.pods_per_node, args.client_qps)


if __name__ == "__main__":
    sys.exit(main())
