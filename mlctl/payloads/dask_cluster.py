"""A local Dask cluster for a local run of kind ``dask``, as a process of its own.

The runner starts this file with the user's interpreter::

    python dask_cluster.py MIN MAX NTHREADS [FIXED]

It prints the scheduler's address as its first line on stdout, then serves
until its standard input closes (the run is over, or mlctl died), and shuts
the cluster down. With FIXED it runs exactly that many workers; otherwise it
scales between MIN and MAX as the work asks (Dask's adaptive mode, as the
``dask`` kind does on a cluster).

Kept apart from mlctl's process so mlctl never imports Dask and a stuck
cluster can be killed with its process group. It must not import mlctl.
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    minimum, maximum, nthreads = (int(v) for v in argv[:3])
    fixed = int(argv[3]) if len(argv) > 3 else None
    # imported by name: Dask is an optional extra, and this keeps type
    # checking of mlctl independent of whether it is installed
    distributed = importlib.import_module("distributed")
    cluster = distributed.LocalCluster(
        n_workers=fixed if fixed is not None else minimum,
        threads_per_worker=max(nthreads, 1),
        processes=True,
        dashboard_address=None,  # no fixed port: two local runs must not collide
        scheduler_port=0,
        host="127.0.0.1",
    )
    try:
        if fixed is None:
            cluster.adapt(minimum=minimum, maximum=max(maximum, minimum, 1))
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()  # returns at EOF: the runner closed the pipe or is gone
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
