"""A stand-in for the Kubernetes API server, for unit tests of the code that talks to it: no socket, no cluster.

``StandIn`` holds objects (pods, Jobs, events ...) with resourceVersions and
a log of their changes, and answers what mlctl sends the way an API server
does, in what mlctl relies on:

* lists in pages (``limit``, ``continue``), with the list's resourceVersion;
* watches from a resourceVersion, replaying the changes after it, then
  waiting for new ones until ``watch_seconds`` pass (the real server's
  ``timeoutSeconds``, shortened); a version older than the log keeps is
  answered with an ERROR event of code 410 (Gone), as a real server does;
* JSON merge patches (strategic ones too, as merges), refused with 409 when
  the patch names another resourceVersion; deletes, where a pod with
  finalizers stays, marked deleted, until they are taken off;
* a suspended Job's pods that are still going deleted, as its controller
  does (it takes its tracking finalizer off them too); no other
  controller: a SparkApplication's pods are only what a test makes them;
* 404 for the run kinds whose CRDs are not installed here (MPIJob).

``cluster()`` is a ``mlctl.cluster.client.Cluster`` whose transport's pool
is the stand-in (the seam ``test_transport`` uses): every request goes
through mlctl's own request code, retries and error translation. Faults a
test can set: a watch's connection dropped, a watch ended by an error, the
connection of one ``cluster()`` dying after a number of aborts, aborts held
at a gate to count how many are in flight together.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from urllib3.exceptions import NewConnectionError, ProtocolError

from mlctl.cluster import client, transport
from mlctl.kube import labels

HOST = "https://standin.invalid"
# plural -> (apiVersion, kind) of what is served; other plurals are not installed (404)
SERVED = {
    "pods": ("v1", "Pod"),
    "events": ("v1", "Event"),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim"),
    "resourcequotas": ("v1", "ResourceQuota"),
    "serviceaccounts": ("v1", "ServiceAccount"),
    "nodes": ("v1", "Node"),
    "priorityclasses": ("scheduling.k8s.io/v1", "PriorityClass"),
    "jobs": ("batch/v1", "Job"),
    "sparkapplications": ("sparkoperator.k8s.io/v1beta2", "SparkApplication"),
}
RUN_OBJECTS = ("jobs", "sparkapplications")


@dataclass(frozen=True)
class Request:
    method: str
    plural: str
    namespace: str
    name: str
    query: dict[str, str]
    body: Any = None


class Response:
    """What urllib3 hands mlctl: a status, the body (whole, or streamed), a connection to give back."""

    def __init__(self, status: int, body: Any = None, chunks: Iterator[bytes] | None = None) -> None:
        self.status = status
        self.reason = "OK" if status < 400 else "Error"
        self.data = json.dumps(body).encode() if body is not None else b""
        self._chunks = chunks

    def stream(self, _amount: int = 4096, decode_content: bool = True) -> Iterator[bytes]:
        if self._chunks is not None:
            yield from self._chunks
        elif self.data:
            yield self.data

    def release_conn(self) -> None:
        pass


def _status(code: int, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "message": message}


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """A JSON merge patch (RFC 7386), in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _matches(obj: dict[str, Any], label_selector: str, field_selector: str) -> bool:
    found = (obj.get("metadata") or {}).get("labels") or {}
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", label_selector):  # commas inside "in (a,b)" are not terms
        term = term.strip()
        if " in (" in term:
            key, _, values = term.partition(" in (")
            if found.get(key) not in values.rstrip(")").split(","):
                return False
            continue
        key, sep, value = term.partition("=")
        if sep and found.get(key) != value:
            return False
        if not sep and key not in found:
            return False
    for term in filter(None, field_selector.split(",")):
        negate = "!=" in term
        key, value = term.split("!=" if negate else "=", 1)
        if (_field(obj, key) == value) == negate:
            return False
    return True


class StandIn:
    """The objects and their history; thread-safe (mlctl sends from several threads)."""

    def __init__(self, watch_seconds: float = 0.3, keep_changes: int = 100_000) -> None:
        self.watch_seconds = watch_seconds
        self.keep_changes = keep_changes  # changes kept for watches; an older version is Gone (410)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, namespace, name) -> object
        self.version = 1
        self.changes: list[tuple[int, str, str, dict[str, Any]]] = []  # (version, type, plural, object)
        self.oldest = 1  # watches from an older version are Gone
        self.requests: list[Request] = []
        self.watch_faults: list[str] = []  # taken one per watch of pods: "drop", "error", "gone"
        self.record_patches: dict[str, int] = {}  # run object name -> patches that wrote its record (its state)
        self.gate_size = 0  # > 0: patches of run objects wait until that many (or all still to come) are in
        self.gate_expected = 0  # how many such patches the test will send in all
        self.at_gate = 0
        self.most_at_gate = 0
        self.gate_passed = 0
        self.closed = False
        self._uids = 0
        self._lock = threading.Condition()

    # -- what tests do ----------------------------------------------------------

    def cluster(self, timeout: float = 5.0) -> tuple[client.Cluster, Pool]:
        """A connection through mlctl's own client, and its pool (to make it die)."""
        pool = Pool(self)
        link = transport.Transport(HOST, lambda _cert: pool, lambda: ({}, None, float("inf")))  # type: ignore[arg-type,return-value]
        return client.Cluster(transport=link, namespace="default", timeout=timeout), pool

    def create(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            meta = obj.setdefault("metadata", {})
            meta.setdefault("namespace", "default")
            self._uids += 1
            meta.setdefault("uid", f"uid-{self._uids}")
            api_version, kind = SERVED[plural]
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            self.objects[(plural, meta["namespace"], meta["name"])] = obj
            self._changed("ADDED", plural, obj)
            return copy.deepcopy(obj)

    def update(self, plural: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        with self._lock:
            obj = self.objects[(plural, namespace, name)]
            _merge(obj, patch)
            self._changed("MODIFIED", plural, obj)

    def forget_changes(self) -> None:
        """Keep no change from before now: a watch from a version older than the current one is Gone (410)."""
        with self._lock:
            self.version += 1  # the cluster has moved on (other objects were written)
            self.oldest = self.version

    def items(self, plural: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for (p, _, _), o in sorted(self.objects.items()) if p == plural]

    def lists(self, plural: str) -> list[Request]:
        return [r for r in self.requests if r.plural == plural and r.method == "GET" and not r.name and not _watch(r)]

    def watches(self, plural: str) -> list[Request]:
        return [r for r in self.requests if r.plural == plural and _watch(r)]

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._lock.notify_all()

    # -- the server ---------------------------------------------------------------

    def _changed(self, kind: str, plural: str, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.changes.append((self.version, kind, plural, copy.deepcopy(obj)))
        if len(self.changes) > self.keep_changes:
            self.oldest = self.changes.pop(0)[0] + 1
        self._lock.notify_all()

    def handle(self, method: str, url: str, body: bytes | None) -> Response:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        segments = parts.path.strip("/").split("/")
        segments = segments[2:] if segments[0] == "api" else segments[3:]  # past /api/v1 or /apis/group/version
        namespace = ""
        if segments[:1] == ["namespaces"] and len(segments) > 2:
            namespace, segments = segments[1], segments[2:]
        plural, name, sub = [*segments, "", ""][:3]
        data = json.loads(body) if body else None
        request = Request(method, plural, namespace, name, query, data)
        with self._lock:
            self.requests.append(request)
        if plural not in SERVED:
            return Response(404, _status(404, f"the server could not find the requested resource ({plural})"))
        if sub == "log":
            return Response(200, chunks=iter([]))
        if method == "GET" and _watch(request):
            return self._watch(request)
        if method == "GET" and not name:
            return self._list(request)
        with self._lock:
            key = (plural, namespace, name)
            obj = self.objects.get(key)
            if obj is None:
                return Response(404, _status(404, f'{plural} "{name}" not found'))
            if method == "GET":
                return Response(200, copy.deepcopy(obj))
        if method == "PATCH":
            return self._patch(key, data or {})
        if method == "DELETE":
            return self._delete(key)
        return Response(405, _status(405, f"{method} is not served here"))

    def _list(self, request: Request) -> Response:
        limit = int(request.query.get("limit") or 0)
        token = request.query.get("continue") or ""
        with self._lock:
            version, _, after = token.partition("/") if token else (str(self.version), "", "")
            found = [
                (key, obj)
                for key, obj in sorted(self.objects.items())
                if key[0] == request.plural
                and (not request.namespace or key[1] == request.namespace)
                and (not after or "/".join(key[1:]) > after)
                and _matches(obj, request.query.get("labelSelector", ""), request.query.get("fieldSelector", ""))
            ]
            page = found[:limit] if limit else found
            more = limit and len(found) > limit
            items = []
            for _, obj in page:
                item = copy.deepcopy(obj)
                del item["apiVersion"], item["kind"]  # as a real list leaves them out
                items.append(item)
            meta: dict[str, Any] = {"resourceVersion": version}
            if more:
                meta["continue"] = f"{version}/{'/'.join(page[-1][0][1:])}"
        return Response(200, {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items})

    def _watch(self, request: Request) -> Response:
        since = int(request.query.get("resourceVersion") or 0)
        fault = ""
        with self._lock:
            if request.plural == "pods" and self.watch_faults:
                fault = self.watch_faults.pop(0)
            gone = since and since < self.oldest
        if gone or fault == "gone":
            return Response(200, chunks=iter([_line("ERROR", _status(410, "too old resource version"))]))
        return Response(200, chunks=self._events(request, since, fault))

    def _events(self, request: Request, since: int, fault: str) -> Iterator[bytes]:
        deadline = time.monotonic() + self.watch_seconds
        selector = request.query.get("labelSelector", "")
        sent = 0
        while True:
            with self._lock:
                ready = [
                    (version, kind, obj)
                    for version, kind, plural, obj in self.changes
                    if version > since
                    and plural == request.plural
                    and (not request.namespace or obj["metadata"]["namespace"] == request.namespace)
                    and _matches(obj, selector, "")
                ]
                if not ready and not self.closed:
                    self._lock.wait(max(0.0, min(0.05, deadline - time.monotonic())))
            for version, kind, obj in ready:
                since = version
                yield _line(kind, obj)
                sent += 1
                if fault == "drop":
                    raise ProtocolError("Connection broken: the stand-in dropped the watch")
                if fault == "error":
                    yield _line("ERROR", _status(500, "etcdserver: request timed out"))
                    return
            if self.closed or time.monotonic() >= deadline:
                return

    def _patch(self, key: tuple[str, str, str], patch: dict[str, Any]) -> Response:
        plural, _, name = key
        annotations = (patch.get("metadata") or {}).get("annotations") or {}
        writes_state = plural in RUN_OBJECTS and labels.STATE in annotations
        if writes_state and self.gate_size:
            self._wait_at_gate()
        with self._lock:
            obj = self.objects.get(key)
            if obj is None:
                return Response(404, _status(404, f'{plural} "{name}" not found'))
            wanted = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != obj["metadata"]["resourceVersion"]:
                return Response(409, _status(409, "the object has been modified; please apply your changes"))
            patch = copy.deepcopy(patch)
            (patch.get("metadata") or {}).pop("resourceVersion", None)
            _merge(obj, patch)
            if writes_state:
                self.record_patches[name] = self.record_patches.get(name, 0) + 1
            meta = obj["metadata"]
            if plural == "pods" and meta.get("deletionTimestamp") and not meta.get("finalizers"):
                del self.objects[key]
                self._changed("DELETED", plural, obj)
            else:
                self._changed("MODIFIED", plural, obj)
            if plural == "jobs" and (patch.get("spec") or {}).get("suspend"):
                self._suspended(obj)
            return Response(200, copy.deepcopy(obj))

    def _suspended(self, job: dict[str, Any]) -> None:
        """The Job controller deletes a suspended Job's pods that are still going, and releases them."""
        run_id = job["metadata"]["labels"].get(labels.RUN_ID)
        for key, pod in list(self.objects.items()):
            meta = pod["metadata"]
            if (
                key[0] == "pods"
                and key[1] == job["metadata"]["namespace"]
                and meta.get("labels", {}).get(labels.RUN_ID) == run_id
                and not meta.get("deletionTimestamp")
                and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            ):
                meta.pop("finalizers", None)
                self._remove(key)

    def _wait_at_gate(self) -> None:
        """Hold an abort's patch until as many as the gate takes (or all still to come) are held with it."""
        with self._lock:
            self.at_gate += 1
            self.most_at_gate = max(self.most_at_gate, self.at_gate)
            self._lock.notify_all()
            deadline = time.monotonic() + 0.5
            while (
                self.at_gate < min(self.gate_size, self.gate_expected - self.gate_passed)
                and not self.closed
                and time.monotonic() < deadline
            ):
                self._lock.wait(deadline - time.monotonic())
            self.gate_passed += 1
            self.at_gate -= 1
            self._lock.notify_all()

    def _delete(self, key: tuple[str, str, str]) -> Response:
        with self._lock:
            self._remove(key)
            return Response(200, _status(200, "deleted") | {"status": "Success"})

    def _remove(self, key: tuple[str, str, str]) -> None:
        obj = self.objects[key]
        meta = obj["metadata"]
        if key[0] == "pods" and meta.get("finalizers"):
            meta.setdefault("deletionTimestamp", "2026-01-01T00:00:00Z")
            self._changed("MODIFIED", key[0], obj)
        else:
            del self.objects[key]
            self._changed("DELETED", key[0], obj)


class Pool:
    """What mlctl's transport takes for a urllib3 pool: it hands each request to the stand-in."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self.die_after_aborts = 0  # > 0: every request after that many aborts' record patches fails
        self.aborts = 0
        self.dead = False

    def request(self, method: str, url: str, body: bytes | None = None, **_options: Any) -> Response:
        if self.dead:
            raise NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
        response = self.standin.handle(method, url, body)
        written = method == "PATCH" and response.status == 200 and labels.STATE.encode() in (body or b"")
        if written and any(f"/{plural}/" in url for plural in RUN_OBJECTS):
            self.aborts += 1
            if self.die_after_aborts and self.aborts >= self.die_after_aborts:
                self.dead = True  # this answer still arrives; nothing after it does
        return response

    def clear(self) -> None:
        pass


def _watch(request: Request) -> bool:
    return request.query.get("watch") == "true"


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"
