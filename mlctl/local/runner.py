"""Local runs: a function's handler run on this machine, the embedded default.

A local run executes the same stdlib-only bootstrap a run's pod executes
(``mlctl/bootstrap.py``), as a child process of mlctl, with the code and the
bootstrap written to a temporary directory. The run is recorded in the
local run store (``mlctl.runs.local_store``) from its start, so ``mlctl runs``
finds it, even if mlctl dies mid-run.

API::

    check(fn) -> list[str]
        Raise InvalidInput when ``fn`` cannot run on this machine (its kind
        needs a cluster, or a local tool is missing); otherwise return the
        warnings to print (ignored mounts, env values from Secrets).
    run(fn, config, *, run_id, params=None, thresholds=None, handler=None,
        on_output=None, environ=None, grace=5.0) -> RunRecord
        Run ``fn`` to its end and return the final record. ``on_output`` gets
        ``(stream, line)`` for every line the run writes ("stdout"/"stderr"),
        as it comes. The record's state is ``completed``, ``error`` (the
        handler raised, could not start, or the process failed) or
        ``aborted`` (the ``running`` threshold was exceeded). Ctrl-C stops the
        run, records it ``aborted`` with "aborted by user" and re-raises
        KeyboardInterrupt.

The environment of the run, lowest first: mlctl's own environment (or
``environ``) < the spec's env < env files < ``--env``; the last three are
already merged into ``fn`` by the pipeline. Kinds: ``job`` runs the
bootstrap; ``mpijob`` runs it under ``mpirun -np <replicas>``; ``dask``
starts a local Dask cluster first and hands its address to the handler in
``DASK_SCHEDULER_ADDRESS`` (``distributed.Client()`` connects to it).
Everything else needs a cluster and is refused by ``check``.

Output goes through the callback only: this module never prints. It never
talks to a cluster and never imports ``kubernetes``.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlctl.config import Config
from mlctl.errors import InvalidInput
from mlctl.render import pod
from mlctl.runs import local_store
from mlctl.runs import record as record_
from mlctl.runs import thresholds as thresholds_
from mlctl.spec.model import FunctionSpec, thaw

Output = Callable[[str, str], None]
"""Receives (stream, line): stream is "stdout" or "stderr", the line has no newline."""

GRACE_SECONDS = 5.0
ABORTED_BY_USER = "aborted by user"
LOCAL_KINDS = ("job", "mpijob", "dask")
_CLUSTER_ONLY = {
    "nuclio": "Nuclio, which runs on a Kubernetes cluster",
    "serving": "Nuclio (or a serving deployment), which runs on a Kubernetes cluster",
    "application": "Nuclio (or an application deployment), which runs on a Kubernetes cluster",
    "spark": "the Spark operator on a Kubernetes cluster",
}
_TICK = 0.1  # how often a quiet run is looked at (threshold, exit)
_FLUSH_SECONDS = 0.5  # log lines are written to the store in batches
_FLUSH_LINES = 200
_DRAIN_SECONDS = 2.0  # a child's children may keep its output open after it exits
_DASK_START_SECONDS = 120.0
_RANK_LAUNCHER = """\
# Run by mpirun on every rank: one result file per rank, so ranks never
# overwrite each other's; rank 0 writes the run's result.
import os, runpy, sys
rank = "0"
for name in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
    if os.environ.get(name):
        rank = os.environ[name]
        break
if rank != "0":
    os.environ["MLCTL_RESULT_PATH"] = os.environ.get("MLCTL_RESULT_PATH", "") + ".rank" + rank
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


# ------------------------------------------------------------------ checks


def check(fn: FunctionSpec) -> list[str]:
    """Refuse what cannot run here (InvalidInput); return warnings for what is ignored."""
    kind = fn.runtime
    if kind in _CLUSTER_ONLY:
        raise InvalidInput(
            f"kind '{fn.kind}' does not run locally: it needs {_CLUSTER_ONLY[kind]}; run it on a cluster instead"
        )
    if kind not in LOCAL_KINDS:
        local = ", ".join(LOCAL_KINDS)
        raise InvalidInput(f"kind '{fn.kind}' cannot run locally (local kinds: {local})")
    if kind == "mpijob" and shutil.which("mpirun") is None:
        raise InvalidInput(
            "kind 'mpijob' runs locally under mpirun, which is not on PATH: install an MPI "
            "implementation (Open MPI: 'apt-get install openmpi-bin' or 'brew install open-mpi'; "
            "or MPICH), or run it on a cluster"
        )
    if kind == "dask" and importlib.util.find_spec("distributed") is None:
        raise InvalidInput(
            "kind 'dask' runs locally on a local Dask cluster, which needs dask.distributed: "
            "pip install 'mlctl[local-dask]' (or 'distributed'), or run it on a cluster"
        )
    if fn.code is None and not fn.get("command"):
        raise InvalidInput(
            f"{fn.source}: nothing to run: the spec has no embedded code "
            "(spec.build.functionSourceCode) and no spec.command"
        )
    return [w for w in (_mounts_warning(fn), _env_warning(fn)) if w]


def _mounts_warning(fn: FunctionSpec) -> str:
    volumes = {v.get("name"): v for v in thaw(fn.get("volumes", [])) if isinstance(v, dict)}
    ignored = []
    for mount in thaw(fn.get("volume_mounts", [])):
        if not isinstance(mount, dict) or not mount.get("mountPath"):
            continue
        name = str(mount.get("name") or "")
        ignored.append(f"{name} ({_volume_kind(volumes.get(name))}) at {mount['mountPath']}")
    if not ignored:
        return ""
    return (
        "volume mounts have no meaning in a local run and are ignored: "
        + ", ".join(ignored)
        + "; the handler sees this machine's file system"
    )


def _volume_kind(volume: Mapping[str, Any] | None) -> str:
    if not volume:
        return "no such volume"
    if "persistentVolumeClaim" in volume:
        return f"PVC {volume['persistentVolumeClaim'].get('claimName', '')}".strip()
    if "configMap" in volume:
        return f"ConfigMap {volume['configMap'].get('name', '')}".strip()
    if "secret" in volume:
        return f"Secret {volume['secret'].get('secretName', '')}".strip()
    flex = volume.get("flexVolume")
    if isinstance(flex, Mapping) and flex.get("driver") == "v3io/fuse":
        return "v3io"
    if "hostPath" in volume:
        return f"host path {volume['hostPath'].get('path', '')}".strip()
    kinds = [k for k in volume if k != "name"]
    return kinds[0] if kinds else "volume"


def _env_warning(fn: FunctionSpec) -> str:
    names = [
        str(e["name"]) for e in thaw(fn.get("env", [])) if isinstance(e, dict) and e.get("name") and e.get("valueFrom")
    ]
    if not names:
        return ""
    return (
        f"env {', '.join(names)} take{'s' if len(names) == 1 else ''} a value from the cluster "
        "(valueFrom) and stay unset in a local run; give values with --env NAME=VALUE or --env-file"
    )


# ------------------------------------------------------------------ running


def run(
    fn: FunctionSpec,
    config: Config,
    *,
    run_id: str,
    params: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, str] | None = None,
    handler: str | None = None,
    on_output: Output | None = None,
    environ: Mapping[str, str] | None = None,
    grace: float = GRACE_SECONDS,
) -> record_.RunRecord:
    """Run ``fn`` here and return its final record (see the module docstring).

    ``thresholds`` are per-run limits; they replace the function's own, as
    in MLRun. Only ``running`` applies locally (nothing is pending or
    pulled), measured in whole seconds from the start of the process.
    """
    check(fn)
    limits = thresholds_.effective(thaw(fn.get("state_thresholds") or {}), thresholds)
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
    emit: Output = on_output or (lambda _stream, _line: None)
    with tempfile.TemporaryDirectory(prefix=f"mlctl-{run_id}-") as tmp:
        try:
            outcome = _execute(fn, config, Path(tmp), run_id, params, handler, environ, limits, emit, grace)
        except KeyboardInterrupt as exc:
            local_store.finish(run_id, record_.ABORTED, _stopped_text(exc))
            raise
        except Exception as exc:
            # the record must not stay "running" for a failure of mlctl itself
            local_store.finish(run_id, record_.FAILED, f"mlctl failed during the run: {exc}")
            raise
    local_store.finish(run_id, outcome.state, outcome.status_text, outcome.result)
    return local_store.get(run_id)


@dataclass
class _Outcome:
    state: str
    status_text: str = ""
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Plan:
    argv: list[str]
    env: dict[str, str]
    result_file: Path | None  # None: a plain command, judged by its exit code alone


def _execute(
    fn: FunctionSpec,
    config: Config,
    tmp: Path,
    run_id: str,
    params: dict[str, Any],
    handler: str | None,
    environ: Mapping[str, str] | None,
    limits: thresholds_.Thresholds,
    emit: Output,
    grace: float,
) -> _Outcome:
    plan = _plan(fn, config, tmp, run_id, params, handler, environ)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_adopting_orphans())
        if fn.runtime == "dask":
            try:
                address = stack.enter_context(_dask_cluster(fn, tmp, plan.env))
            except _ClusterFailed as exc:
                return _Outcome(record_.FAILED, str(exc))
            plan.env["DASK_SCHEDULER_ADDRESS"] = address
        argv = plan.argv
        if sys.platform.startswith("linux") and shutil.which(argv[0], path=plan.env.get("PATH")):
            # the guard takes the run's whole tree with it even if mlctl is killed with SIGKILL
            argv = [sys.executable, str(Path(__file__).with_name("guard.py")), *argv]
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
                **_process_group(),
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            return _Outcome(record_.FAILED, f"cannot start {shlex.join(plan.argv[:1])}: {reason}")
        watch = _Watch(proc, run_id, limits, emit, grace)
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
        return _outcome(proc.returncode, watch.abort_text, plan.result_file)


def _plan(
    fn: FunctionSpec,
    config: Config,
    tmp: Path,
    run_id: str,
    params: dict[str, Any],
    handler: str | None,
    environ: Mapping[str, str] | None,
) -> _Plan:
    env = dict(os.environ if environ is None else environ)
    for entry in pod.env(fn, config):
        if "value" in entry:  # valueFrom has no local source (check() warned)
            env[entry["name"]] = entry["value"]
    env.setdefault("PYTHONUNBUFFERED", "1")  # lines should reach the user as printed
    args = [str(a) for a in fn.get("args") or []]
    command = str(fn.get("command") or "")
    handler_name = handler or str(fn.get("default_handler") or "") or "handler"
    if fn.code is not None:
        code = tmp / fn.code.filename
        code.write_text(fn.code.text, encoding="utf-8")
    elif command.endswith(".py") and (handler or fn.get("default_handler")):
        code = _local_path(command, fn.source)
    else:
        # a plain command (MLRun's "pass" mode): run as given, judged by its exit code
        argv = [*shlex.split(command), *args]
        return _Plan(_mpirun(fn, env, argv) if fn.runtime == "mpijob" else argv, env, None)
    bootstrap = tmp / "bootstrap.py"
    bootstrap.write_text(pod.bootstrap_source(), encoding="utf-8")
    result = tmp / "result.json"
    env["MLCTL_RUN"] = json.dumps(
        {"run_id": run_id, "function": fn.name, "params": params, "handler": handler_name, "code": str(code)},
        sort_keys=True,
        default=str,
    )
    env["MLCTL_RESULT_PATH"] = str(result)
    argv = [sys.executable, str(bootstrap), *args]
    if fn.runtime == "mpijob":
        launcher = tmp / "mpi_rank.py"
        launcher.write_text(_RANK_LAUNCHER, encoding="utf-8")
        argv = _mpirun(fn, env, [sys.executable, str(launcher), *argv[1:]])
    return _Plan(argv, env, result)


def _local_path(command: str, source: str) -> Path:
    """A code file named by spec.command: as given, else beside the spec file."""
    given = Path(command)
    if given.is_absolute() or given.exists():
        return given.resolve()
    beside = Path(source).parent / given
    return beside.resolve() if beside.exists() else given.resolve()


def _mpirun(fn: FunctionSpec, env: dict[str, str], argv: list[str]) -> list[str]:
    """``argv`` on ``replicas`` ranks (MLRun: the workers; locally every rank is a process)."""
    replicas = int(fn.get("replicas") or 1)
    mpi_args = [str(a) for a in fn.get("mpi_args") or []]
    # Open MPI refuses to start as root and to place more ranks than cores;
    # a local run is a developer's test, so allow both (unless already set)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    env.setdefault("PRTE_MCA_rmaps_default_mapping_policy", ":oversubscribe")
    mpirun = shutil.which("mpirun") or "mpirun"
    return [mpirun, "-np", str(replicas), *mpi_args, *argv]


def _outcome(returncode: int, abort_text: str, result_file: Path | None) -> _Outcome:
    payload = _read_result(result_file) if result_file else None
    if returncode != 0 and result_file is not None and not (payload and "error" in payload):
        # rank 0 may have finished well while another rank failed the run
        payload = _rank_error(result_file) or payload
    results = payload.get("results") if payload else None
    results = dict(results) if isinstance(results, dict) else {}
    if abort_text:
        return _Outcome(record_.ABORTED, abort_text, results)
    if returncode == 0 and not (payload and "error" in payload):
        if payload and "results" not in payload:
            results = dict(payload)  # the bootstrap's truncated form
        return _Outcome(record_.SUCCEEDED, "", results)
    error = str(payload["error"]) if payload and "error" in payload else ""
    if returncode == 2 and error:
        return _Outcome(record_.FAILED, f"the handler could not start: {error}", results)
    return _Outcome(record_.FAILED, error or _exit_text(returncode), results)


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _rank_error(result_file: Path) -> dict[str, Any] | None:
    """An MPI run failed on a rank other than 0: that rank's error."""
    for path in sorted(result_file.parent.glob(result_file.name + ".rank*")):
        payload = _read_result(path)
        if payload and "error" in payload:
            rank = path.name.rpartition(".rank")[2]
            return {**payload, "error": f"rank {rank}: {payload['error']}"}
    return None


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the process was killed by {name}{hint}"
    return f"the process exited with code {returncode}"


def _stopped_text(exc: BaseException) -> str:
    """How an interrupted run ended: Ctrl-C, or the signal that stopped mlctl."""
    signum = getattr(exc, "signum", int(signal.SIGINT))
    if signum == signal.SIGINT:
        return ABORTED_BY_USER
    return f"aborted: mlctl was stopped by {signal.Signals(signum).name}"


# ------------------------------------------------------------ the child process


def _process_group() -> dict[str, Any]:
    """Popen options: the child leads its own process group, and dies with mlctl.

    Its own group, so stopping the run reaches whatever it started (mpirun's
    ranks, a handler's subprocesses) and a Ctrl-C in the terminal reaches
    mlctl alone, which then stops the run in order. On Linux the child also
    gets SIGTERM when mlctl dies, so a crash leaves no orphan behind.
    """
    if os.name != "posix":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            return options
        pr_set_pdeathsig = 1

        def die_with_parent() -> None:
            prctl(pr_set_pdeathsig, int(signal.SIGTERM))

        options["preexec_fn"] = die_with_parent
    return options


_PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def _adopting_orphans() -> Iterator[None]:
    """For the run's length mlctl adopts what the run orphans (a daemon, a ``setsid`` child).

    An orphan would otherwise go to init, out of reach of the run's end; as
    mlctl's child it is found and ended with the rest of the run's tree.
    """
    prctl: Any = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl
            prctl(_PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        if prctl is not None:
            prctl(_PR_SET_CHILD_SUBREAPER, 0)


def _children_of(pids: set[int]) -> set[int]:
    """Processes whose parent is one of ``pids`` (Linux /proc; empty elsewhere)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_bytes().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) in pids:
                found.add(int(entry.name))
    return found


def _kill_tree(root: int, spare: Iterable[int] = ()) -> None:
    """SIGKILL every process below ``root`` and below mlctl except ``spare``'s trees, until none is left.

    Runs after the run's own process ended: what it left behind was adopted
    by mlctl (the subreaper), even from another session or process group.
    """
    me = os.getpid()
    spared = set(spare)
    for _ in range(50):
        tree = {root} if _alive(root) else set()
        level = (_children_of({me}) - spared) | tree
        while level:
            tree |= level
            level = _children_of(level) - tree
        tree.discard(me)
        if not tree:
            return
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, _SIGKILL)
        for pid in tree:  # reap the adopted ones, so they do not linger as zombies
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        return
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        if sig == signal.SIGTERM:
            proc.terminate()
        else:
            proc.kill()


_SIGKILL = int(getattr(signal, "SIGKILL", signal.SIGTERM))


class _Watch:
    """Follows a running child: output to the callback and the store, threshold, stop."""

    def __init__(
        self, proc: subprocess.Popen[str], run_id: str, limits: thresholds_.Thresholds, emit: Output, grace: float
    ) -> None:
        self.proc = proc
        # mlctl's other children (a local Dask cluster; a test runner's own) are not the run's
        self.spare = _children_of({os.getpid()}) - {proc.pid}
        self.run_id = run_id
        self.limits = limits
        self.emit = emit
        self.grace = grace
        self.abort_text = ""
        self.started = time.monotonic()
        self.stop_sent: float | None = None
        self.killed = False
        self.exited_at: float | None = None
        self.lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.open_streams = 0
        self.pending: list[tuple[str, str]] = []
        self.last_flush = time.monotonic()
        for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            if pipe is not None:
                self.open_streams += 1
                threading.Thread(target=_pump, args=(pipe, stream, self.lines), daemon=True).start()

    def follow(self) -> None:
        """Until the child has exited and its output is read (or given up on)."""
        while True:
            try:
                stream, line = self.lines.get(timeout=_TICK)
            except queue.Empty:
                pass
            else:
                if line is None:
                    self.open_streams -= 1
                else:
                    self.pending.append((stream, line))
                    self.emit(stream, line)
            now = time.monotonic()
            if self.pending and (len(self.pending) >= _FLUSH_LINES or now - self.last_flush >= _FLUSH_SECONDS):
                self.flush()
            if self.proc.poll() is None:
                self._enforce(now)
                continue
            if self.exited_at is None:
                self.exited_at = now
            if self.open_streams <= 0:
                return
            if now - self.exited_at > _DRAIN_SECONDS:
                # something the run started still holds its output: end it, as a pod's end would
                _signal_group(self.proc, _SIGKILL)
                return

    def _enforce(self, now: float) -> None:
        if self.stop_sent is not None:
            if not self.killed and now - self.stop_sent > self.grace:
                self.kill()
            return
        # whole seconds: the status text reports whole seconds, and
        # "waited 2s, limit 2s" would read as no breach at all
        text = thresholds_.breach(self.limits, "running", float(int(now - self.started)))
        if text:
            self.stop(text)

    def stop(self, reason: str) -> None:
        """SIGTERM now; SIGKILL after the grace period if the run is still there."""
        if not self.abort_text:
            self.abort_text = reason
        if self.stop_sent is None:
            self.stop_sent = time.monotonic()
            _signal_group(self.proc, int(signal.SIGTERM))

    def kill(self) -> None:
        self.killed = True
        _signal_group(self.proc, _SIGKILL)

    def close(self) -> None:
        """Reap the child, write the last lines; leave nothing of the run behind."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=max(self.grace, 1.0))
        if self.proc.poll() is None:
            self.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        # children the handler left running would outlive it; a pod's would not
        _signal_group(self.proc, _SIGKILL)
        if sys.platform.startswith("linux"):
            _kill_tree(self.proc.pid, spare=self.spare)
        while True:
            try:
                stream, line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.pending.append((stream, line))
                self.emit(stream, line)
        self.flush()

    def flush(self) -> None:
        lines, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        local_store.append_logs(self.run_id, lines)


def _pump(pipe: IO[str], stream: str, lines: queue.Queue[tuple[str, str | None]]) -> None:
    """Read one pipe line by line into the queue; None marks its end."""
    try:
        for line in pipe:
            lines.put((stream, line.rstrip("\r\n")))
    except (OSError, ValueError):
        pass  # the pipe was closed under us: the run is over
    finally:
        lines.put((stream, None))


# ------------------------------------------------------------ a local Dask cluster


class _ClusterFailed(Exception):
    pass


@contextlib.contextmanager
def _dask_cluster(fn: FunctionSpec, tmp: Path, env: Mapping[str, str]) -> Iterator[str]:
    """A local Dask cluster for the run's length; yields the scheduler address."""
    argv = [
        sys.executable,
        str(Path(__file__).with_name("dask_cluster.py")),
        str(int(fn.get("min_replicas", 0))),
        str(int(fn.get("max_replicas", 16))),
        str(int(fn.get("nthreads", 1))),
    ]
    if fn.get("replicas") is not None:
        argv.append(str(int(fn.get("replicas"))))
    log = tmp / "dask-cluster.log"
    with log.open("w", encoding="utf-8") as err:
        try:
            proc = subprocess.Popen(
                argv,
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                **_process_group(),
            )
        except OSError as exc:
            raise _ClusterFailed(f"cannot start a local Dask cluster: {exc}") from None
        try:
            address = _first_line(proc, _DASK_START_SECONDS)
            if not address:
                raise _ClusterFailed("the local Dask cluster did not start: " + _tail(log))
            yield address
        finally:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # the cluster's signal to shut down
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(proc, _SIGKILL)
                proc.wait()
            _signal_group(proc, _SIGKILL)  # workers that outlived their nanny


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        line = proc.stdout.readline() if proc.stdout else ""
        found.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    try:
        return found.get(timeout=timeout)
    except queue.Empty:
        return ""


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    return " | ".join(text[-lines:]) or "no output"
