"""Run one function handler: the program a run's pod (or local process) executes.

Shipped with the function's code in a ConfigMap, so it must run on any
Python 3.8+ image with nothing installed: standard library only, no import
of mlctl. It reads the run from the ``MLCTL_RUN`` environment variable
(JSON: run_id, function, handler, params, code), imports the code file,
calls the handler with the parameters and writes the result as JSON to
``MLCTL_RESULT_PATH`` (a pod's termination-message path by default), where
mlctl reads it back.

A handler whose first parameter is named ``context`` receives a small
context object with MLRun's everyday methods (``logger``, ``log_result``,
``get_param``, ``parameters``), so common MLRun handlers run unchanged.

A retried attempt (``MLCTL_ATTEMPT_FAILURES``, the count of earlier
attempts that failed, which a job's pod reads from the Job controller's
annotation) waits the run's ``retry_backoff`` seconds before the handler,
and says so; an attempt after disruptions only starts at once.

Exit codes: 0 success, 1 the handler raised, 2 the run cannot start
(bad handler name, code that does not import).
"""

import importlib.util
import inspect
import json
import logging
import os
import sys
import time
import traceback

RESULT_LIMIT = 4096  # bytes a termination message may hold
TRACEBACK_LINES = 6  # of the handler's traceback, kept in the result


class Context:
    """The subset of MLRun's run context that plain handlers use."""

    def __init__(self, run):
        self.uid = run.get("run_id", "")
        self.name = run.get("function", "")
        self.parameters = dict(run.get("params") or {})
        self.results = {}
        self.logger = logging.getLogger(self.name or "handler")

    def get_param(self, key, default=None):
        return self.parameters.get(key, default)

    def log_result(self, key, value, commit=False):
        self.results[key] = value

    def log_results(self, results, commit=False):
        self.results.update(results)

    def log_artifact(self, item, *args, **kwargs):
        key = getattr(item, "key", item)
        self.logger.warning("artifact %s not stored: artifacts need an MLRun server", key)

    log_dataset = log_model = log_artifact

    def set_label(self, key, value, replace=True):
        pass

    def commit(self, *args, **kwargs):
        pass


def _write_result(path, payload):
    text = json.dumps(payload, default=repr)
    if len(text.encode("utf-8")) > RESULT_LIMIT:
        kept = {k: payload[k] for k in ("error", "traceback") if k in payload}  # the why outlives the what
        room = max(RESULT_LIMIT - 200 - len(json.dumps(kept).encode("utf-8")), 0)
        payload = dict(kept, truncated=True, result=text[:room])
        text = json.dumps(payload)
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        print("mlctl: cannot write the result to %s: %s" % (path, exc), file=sys.stderr)


def _last_frames(exc, lines=TRACEBACK_LINES):
    """The end of the handler's traceback (where it raised), short enough for a termination message."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    kept = [line[:200] for line in text.rstrip("\n").splitlines()[-lines:]]
    return "\n".join(kept)


def _load(code_path):
    folder = os.path.dirname(os.path.abspath(code_path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(code_path))[0] or "function"
    spec = importlib.util.spec_from_file_location(name, code_path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot import %s" % code_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _arguments(handler, context, params):
    signature = inspect.signature(handler)
    names = list(signature.parameters)
    wants_context = bool(names) and names[0] in ("context", "ctx")
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    kwargs = {k: v for k, v in params.items() if accepts_any or k in signature.parameters}
    ignored = sorted(set(params) - set(kwargs))
    if ignored:
        print("mlctl: the handler takes no parameter %s; ignored" % ", ".join(ignored), file=sys.stderr)
    return ([context] if wants_context else []), kwargs


def _count(name):
    try:
        return max(0, int(os.environ.get(name) or 0))
    except ValueError:
        return 0


def _wait_before_retry(run, sleep=time.sleep):
    """Wait the run's backoff when an earlier attempt failed; return the seconds waited."""
    failures = _count("MLCTL_ATTEMPT_FAILURES")
    disruptions = _count("MLCTL_ATTEMPT_DISRUPTIONS")
    try:
        backoff = max(0.0, float(run.get("retry_backoff") or 0))
    except (TypeError, ValueError):
        backoff = 0.0
    if not failures or not backoff:
        return 0.0
    print(
        "mlctl: attempt %d (%d failed, %d disrupted before it): waiting %gs (retry backoff) before the handler"
        % (failures + disruptions + 1, failures, disruptions, backoff),
        file=sys.stderr,
        flush=True,
    )
    sleep(backoff)
    return backoff


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run = json.loads(os.environ.get("MLCTL_RUN") or "{}")
    _wait_before_retry(run)
    result_path = os.environ.get("MLCTL_RESULT_PATH", "/dev/termination-log")
    handler_name = run.get("handler") or "handler"
    context = Context(run)
    try:
        module = _load(run["code"])
        handler = getattr(module, handler_name, None)
        if not callable(handler):
            found = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_"))
            raise LookupError(
                "handler '%s' not found in %s (functions there: %s)"
                % (handler_name, os.path.basename(run["code"]), ", ".join(found) or "none")
            )
        args, kwargs = _arguments(handler, context, context.parameters)
    except Exception as exc:  # the run cannot start: say why, in the result too
        message = "%s: %s" % (type(exc).__name__, exc)
        print("mlctl: " + message, file=sys.stderr)
        _write_result(result_path, {"error": message})
        return 2
    try:
        value = handler(*args, **kwargs)
    except Exception as exc:
        traceback.print_exc()
        _write_result(
            result_path,
            {
                "error": "%s: %s" % (type(exc).__name__, exc),
                "traceback": _last_frames(exc),
                "results": context.results,
            },
        )
        return 1
    results = dict(context.results)
    if value is not None:
        results["return"] = value
    _write_result(result_path, {"results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
