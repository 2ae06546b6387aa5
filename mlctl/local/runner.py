"""Local runs: a function's handler run on this machine, the embedded default.

A local run executes the same stdlib-only bootstrap a run's pod executes
(``mlctl/payloads/bootstrap.py``), as a child process of mlctl, with the code and the
bootstrap written to a temporary directory. The run is recorded in the
local run store (``mlctl.runs.local_store``) from its start, so ``mlctl runs``
finds it, even if mlctl dies mid-run.

API::

    check(fn) -> list[str]
        Raise InvalidInput when ``fn`` cannot run on this machine (its kind
        needs a cluster, or a local tool is missing); otherwise return the
        warnings to print (ignored mounts, env values from Secrets).
    run(fn, config, *, run_id, params=None, thresholds=None, handler=None,
        retry=None, on_output=None, environ=None, grace=5.0) -> RunRecord
        Run ``fn`` to its end and return the final record. ``on_output`` gets
        ``(stream, line)`` for every line the run writes ("stdout"/"stderr"),
        as it comes. The record's state is ``completed``, ``error`` (the
        handler raised, could not start, or the process failed) or
        ``aborted`` (the ``running`` threshold was exceeded). A failed run is
        run again ``retry.count`` times, ``retry.backoff`` after each failure
        (a line on stderr says so); the record lists every attempt. Ctrl-C
        stops the run, records it ``aborted`` with "aborted by user" and
        re-raises KeyboardInterrupt.

The environment of the run, lowest first: mlctl's own environment (or
``environ``) < the spec's env < env files < ``--env``; the last three are
already merged into ``fn`` by the pipeline. Kinds: ``job`` runs the
bootstrap; ``mpijob`` runs it under ``mpirun -np <replicas>``; ``dask``
starts a local Dask cluster first and hands its address to the handler in
``DASK_SCHEDULER_ADDRESS`` (``distributed.Client()`` connects to it).
Everything else needs a cluster and is refused by ``check``.

Output goes through the callback only: this module never prints. It never
talks to a cluster and never imports ``kubernetes``.

The parts: ``checks`` (what can run here), ``plan`` (the command, its
environment and files; what the end means), ``processes`` (the process
group, output, threshold and stop), ``dask`` (a local Dask cluster); this
module runs them in order and keeps the run store up to date.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlctl import payloads
from mlctl.config import Config
from mlctl.local import dask, processes
from mlctl.local import plan as plan_
from mlctl.local.checks import check as check  # part of this module's API: see above
from mlctl.runs import local_store
from mlctl.runs import record as record_
from mlctl.spec import durations
from mlctl.spec import retry as retry_
from mlctl.spec import state_thresholds as state_thresholds_
from mlctl.spec.model import FunctionSpec, thaw

GRACE_SECONDS = 5.0
ABORTED_BY_USER = "aborted by user"


def run(
    fn: FunctionSpec,
    config: Config,
    *,
    run_id: str,
    params: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, str] | None = None,
    handler: str | None = None,
    retry: retry_.Retry | None = None,
    on_output: processes.Output | None = None,
    environ: Mapping[str, str] | None = None,
    grace: float = GRACE_SECONDS,
) -> record_.RunRecord:
    """Run ``fn`` here and return its final record (see the module docstring).

    ``thresholds`` are per-run limits; they replace the function's own, as
    in MLRun. Only ``running`` applies locally (nothing is pending or
    pulled), measured in whole seconds from the start of the process.
    """
    check(fn)
    limits = state_thresholds_.effective(thaw(fn.get("state_thresholds") or {}), thresholds)
    params = dict(params or {})
    local_store.start(
        record_.RunRecord(
            run_id=run_id,
            function=fn.name,
            project=fn.project,
            kind=fn.runtime,
            where="local",
            namespace="",
            state=record_.RUNNING,
            started=local_store.now(),
            params=params,
            thresholds=dict(limits.texts),
        ),
        os.getpid(),
    )
    emit: processes.Output = on_output or (lambda _stream, _line: None)
    retry = retry or retry_.Retry()
    attempts: list[record_.Attempt] = []
    with tempfile.TemporaryDirectory(prefix=f"mlctl-{run_id}-") as tmp:
        try:
            for number in range(1, retry.retries + 2):
                if number > 1:
                    _back_off(run_id, attempts, retry, emit)
                started = local_store.now()
                planned = plan_.plan(fn, config, Path(tmp), run_id, params, handler, environ)
                outcome = _execute(fn, planned, Path(tmp), run_id, limits, emit, grace)
                attempts.append(_attempt(number, outcome, started))
                if outcome.state != record_.FAILED:
                    break
        except KeyboardInterrupt as exc:
            local_store.finish(run_id, record_.ABORTED, _stopped_text(exc), attempts=attempts)
            raise
        except Exception as exc:
            # the record must not stay "running" for a failure of mlctl itself
            local_store.finish(run_id, record_.FAILED, f"mlctl failed during the run: {exc}", attempts=attempts)
            raise
    text = outcome.status_text
    if outcome.state == record_.FAILED and len(attempts) > 1:
        text = f"{text}; failed after {len(attempts)} attempts"
    local_store.finish(run_id, outcome.state, text, outcome.result, attempts)
    return local_store.get(run_id)


def _attempt(number: int, outcome: plan_.Outcome, started: str) -> record_.Attempt:
    ended = {
        record_.SUCCEEDED: record_.ATTEMPT_SUCCEEDED,
        record_.FAILED: record_.ATTEMPT_FAILED,
    }.get(outcome.state, record_.ATTEMPT_STOPPED)
    return record_.Attempt(
        number=number,
        outcome=ended,
        started=started,
        finished=local_store.now(),
        exit_code=outcome.exit_code,
        message=outcome.status_text,
    )


def _back_off(run_id: str, attempts: list[record_.Attempt], retry: retry_.Retry, emit: processes.Output) -> None:
    """Record the attempts so far, say what comes, and wait the backoff (Ctrl-C stops the wait)."""
    local_store.record_attempts(run_id, attempts)
    wait = retry.backoff_seconds
    emit(
        "stderr",
        f"mlctl: attempt {len(attempts)} failed ({attempts[-1].message}); "
        f"attempt {len(attempts) + 1} of {retry.retries + 1} in {durations.format_seconds(wait)}",
    )
    time.sleep(wait)


def _execute(
    fn: FunctionSpec,
    plan: plan_.Plan,
    tmp: Path,
    run_id: str,
    limits: state_thresholds_.Thresholds,
    emit: processes.Output,
    grace: float,
) -> plan_.Outcome:
    with contextlib.ExitStack() as stack:
        stack.enter_context(processes.adopting_orphans())
        if fn.runtime == "dask":
            try:
                address = stack.enter_context(dask.cluster(fn, tmp, plan.env))
            except dask.ClusterFailed as exc:
                return plan_.Outcome(record_.FAILED, str(exc))
            plan.env["DASK_SCHEDULER_ADDRESS"] = address
        argv = plan.argv
        if sys.platform.startswith("linux") and shutil.which(argv[0], path=plan.env.get("PATH")):
            # the guard takes the run's whole tree with it even if mlctl is killed with SIGKILL
            argv = [sys.executable, str(payloads.path("guard.py")), *argv]
        try:
            proc = subprocess.Popen(
                argv,
                env=plan.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                **processes.process_group(),
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return plan_.Outcome(record_.FAILED, f"cannot start {shlex.join(plan.argv[:1])}: {reason}")
        watch = processes.Watch(proc, run_id, limits, emit, grace)
        try:
            watch.follow()
        except KeyboardInterrupt as exc:
            watch.stop(_stopped_text(exc))
            try:
                watch.follow()
            except KeyboardInterrupt:  # a second Ctrl-C: no more grace
                watch.kill()
            watch.close()
            raise
        except BaseException:
            watch.kill()
            watch.close()
            raise
        watch.close()
        return plan_.outcome(proc.returncode, watch.abort_text, plan.result_file)


def _stopped_text(exc: BaseException) -> str:
    """How an interrupted run ended: Ctrl-C, or the signal that stopped mlctl."""
    signum = getattr(exc, "signum", int(signal.SIGINT))
    if signum == signal.SIGINT:
        return ABORTED_BY_USER
    return f"aborted: mlctl was stopped by {signal.Signals(signum).name}"
