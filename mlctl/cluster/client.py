"""The one door to the Kubernetes API: connection, requests, error translation.

This package is the only importer of the official ``kubernetes`` client
(enforced by import-linter); ``kubeconfig`` and ``transport`` say which
server to reach and how. Everything that leaves it is a plain dict or
an ``mlctl.errors`` error: Kubernetes' failures are translated once, here,
into ``Unreachable``, ``Unauthorized``, ``Forbidden`` (naming the verb,
resource and namespace refused), ``NotFound``, ``Conflict`` and
``Invalid`` (the API server's field messages). Transient failures
(connection reset, 429, 5xx) are retried with backoff within a deadline.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from mlctl import errors
from mlctl.cluster import kubeconfig
from mlctl.kube import kinds, labels

if TYPE_CHECKING:
    from mlctl.cluster.transport import Transport

_TRANSIENT = {429, 500, 502, 503, 504}
FIELD_MANAGER = labels.MANAGER
Page = list[dict[str, Any]]  # one page of a listing (``list`` is a method's name inside Cluster)


@dataclass
class Cluster:
    """A connection: the transport, the namespace to use, and a request deadline."""

    transport: Transport
    namespace: str
    context: str = ""
    timeout: float = 30.0
    requests_made: int = field(default=0)
    # requests may be sent from several threads (apply, the monitor's watch)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # --- paths ---------------------------------------------------------------

    @staticmethod
    def path(
        api_version: str, kind: str, namespace: str | None = None, name: str | None = None, subresource: str = ""
    ) -> str:
        known = kinds.named(kind)
        if known is None:
            raise errors.InvalidInput(f"mlctl does not know the Kubernetes kind '{kind}'")
        plural, namespaced = known.plural, known.namespaced
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{plural}"
        if name:
            base += f"/{quote(name)}"
        if subresource:
            base += f"/{subresource}"
        return base

    # --- requests ------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        what: str = "",
        deadline: float | None = None,
        stream: bool = False,
        read_timeout: float | None = None,
        verb: str = "",
        resource: str = "",
        name: str = "",
    ) -> Any:
        """One API call with retries of transient failures; JSON in, dict out.

        With ``stream`` the open urllib3 response is returned for the caller to read.
        ``verb`` is the Kubernetes verb for error messages when the method does not
        say it (a GET that lists or watches); ``resource`` (a kind) and ``name`` say
        what was asked for, and a refusal carries them.
        """
        from urllib3.exceptions import HTTPError as Urllib3Error

        deadline = deadline or (time.monotonic() + self.timeout)
        params = urlencode([(k, v) for k, v in (query or {}).items() if v is not None])
        url = f"{self.transport.host}{path}?{params}" if params else f"{self.transport.host}{path}"
        payload = json.dumps(body).encode() if body is not None else None
        verb = verb or _VERBS.get(method, method)
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            try:
                response, generation = self._send(
                    method, url, payload, content_type, _timeout(stream, read_timeout, deadline)
                )
            except (Urllib3Error, OSError) as exc:
                if time.monotonic() < deadline and attempt < 4:
                    _backoff(attempt, deadline)
                    continue
                why = f"cannot reach the Kubernetes API server {self.host} ({_reason(exc)})"
                raise errors.Unreachable(why, verb=verb, resource=resource, name=name) from exc
            if response.status < 400:
                return response if stream else _json(response)
            data = response.data
            response.release_conn()
            if response.status == 401 and not renewed:  # a rotated token, an expired plugin credential
                renewed = True
                self.transport.refresh(generation)
                continue
            if response.status in _TRANSIENT and time.monotonic() < deadline:
                _backoff(attempt, deadline)
                continue
            reason = response.reason or ""
            failure = errors.ClusterFailure(response.status, verb, resource, name, _server_message(data, reason))
            raise translate(failure, data, what or path, reason)

    def _send(self, method: str, url: str, payload: bytes | None, content_type: str, timeout: Any) -> tuple[Any, int]:
        """One attempt: the unread response, and the generation of the credentials it was sent with."""
        pool, credentials, generation = self.transport.current()
        headers = {"Accept": "application/json", "Content-Type": content_type, **credentials}
        with self._lock:
            self.requests_made += 1
        response = pool.request(
            method, url, body=payload, headers=headers, timeout=timeout, preload_content=False, retries=False
        )
        return response, generation

    @property
    def host(self) -> str:
        return self.transport.host

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        path = self.path(api_version, kind, ns, name)
        return dict(self.request("GET", path, what=f"{kind} {name}", resource=kind, name=name))

    def find(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self.get(api_version, kind, name, namespace)
        except errors.NotFound:
            return None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        selector: str = "",
        all_namespaces: bool = False,
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        ns = None if all_namespaces else (namespace or self.namespace)
        return self.snapshot(api_version, kind, ns, selector=selector, field_selector=field_selector).items

    def snapshot(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        *,
        selector: str = "",
        field_selector: str = "",
        page_size: int = 0,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Listing:
        """The objects of a kind in ``namespace`` (None: every namespace), and where a watch of them resumes.

        With ``page_size`` they are read that many at a time, and ``keep`` turns
        each into what the caller holds on to as it arrives (big objects need
        not all be in memory at once).
        """
        listing = Pages(self, api_version, kind, namespace, selector, page_size, field_selector)
        items = [keep(item) if keep else item for item in listing]
        return Listing(items, listing.resource_version)

    def pages(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "", limit: int = 500
    ) -> Pages:
        """The objects of a kind in ``namespace`` (None: every namespace), read ``limit`` at a time.

        Iterate it for the objects, as each page arrives; then its
        ``resource_version`` is the list's, where a watch of them starts.
        """
        return Pages(self, api_version, kind, namespace, label_selector, limit)

    def page_by_page(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = "", limit: int = 500
    ) -> Iterator[Page]:
        """The objects of a kind in ``namespace`` (None: every namespace), ``limit`` at a time, as kubectl reads them.

        Each page is yielded as it arrives, so a caller shows the first before
        the last is read. The API server keeps a listing's snapshot for a few
        minutes only: a later page then answers 410 Expired. The listing starts
        again once, leaving out the objects already yielded; a second expiry
        is an error saying so.
        """
        path = self.path(api_version, kind, namespace)
        seen: set[str] = set()  # uids yielded, for a listing started again
        token, restarted = "", False
        while True:
            query = {"labelSelector": label_selector or None, "limit": limit, "continue": token or None}
            try:
                page = self.request(
                    "GET", path, query=query, what=_described(kind, namespace), verb="list", resource=kind
                )
            except errors.ClusterError as exc:
                if exc.status != 410 or not token:
                    raise
                if restarted:
                    raise errors.ClusterError(
                        f"listing {_described(kind, namespace)} took longer than the API server keeps a listing "
                        f"(its continue token expired twice, 410): list again, or with fewer objects",
                        failure=exc.failure,
                    ) from exc
                token, restarted = "", True
                continue
            items = []
            for item in page.get("items") or []:
                uid = str((item.get("metadata") or {}).get("uid") or "")
                if uid and uid in seen:
                    continue
                seen.add(uid)
                item.setdefault("apiVersion", api_version)  # list responses leave these out of each item
                item.setdefault("kind", kind)
                items.append(item)
            if items:
                yield items
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return

    def apply(
        self, obj: Mapping[str, Any], *, dry_run: bool = False, force: bool = True, field_manager: str = FIELD_MANAGER
    ) -> dict[str, Any]:
        """Server-side apply, by default with field manager ``mlctl``."""
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace") or self.namespace
        path = self.path(obj["apiVersion"], obj["kind"], namespace, meta["name"])
        query = {
            "fieldManager": field_manager,
            "force": "true" if force else None,
            "dryRun": "All" if dry_run else None,
        }
        return dict(
            self.request(
                "PATCH",
                path,
                body=obj,
                query=query,
                content_type="application/apply-patch+yaml",
                what=f"{obj['kind']} {meta['name']}",
                resource=obj["kind"],
                name=meta["name"],
            )
        )

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        subresource: str = "",
        strategic: bool = False,
    ) -> dict[str, Any]:
        """A JSON merge patch; ``strategic``: Kubernetes' strategic merge (lists merge by key, e.g. owners by uid)."""
        path = self.path(api_version, kind, namespace or self.namespace, name, subresource)
        content_type = "application/strategic-merge-patch+json" if strategic else "application/merge-patch+json"
        return dict(
            self.request(
                "PATCH", path, body=patch, content_type=content_type, what=f"{kind} {name}", resource=kind, name=name
            )
        )

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        grace_seconds: int | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when it was already gone."""
        body: dict[str, Any] = {"propagationPolicy": propagation}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        try:
            self.request(
                "DELETE",
                self.path(api_version, kind, namespace or self.namespace, name),
                body=body,
                what=f"{kind} {name}",
                resource=kind,
                name=name,
            )
        except errors.NotFound:
            return False
        return True

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        *,
        selector: str = "",
        resource_version: str = "",
        timeout_seconds: int = 60,
    ) -> Iterator[dict[str, Any]]:
        """Watch events (``{"type", "object"}``) until the server closes the stream."""
        path = self.path(api_version, kind, namespace)
        query = {
            "watch": "true",
            "labelSelector": selector or None,
            "resourceVersion": resource_version or None,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
        }
        response = self.request(
            "GET",
            path,
            query=query,
            stream=True,
            read_timeout=timeout_seconds + 10,
            what=_described(kind, namespace),
            verb="watch",
            resource=kind,
        )
        try:
            for line in _lines(response):
                if line.strip():
                    yield json.loads(line)
        except Exception as exc:  # a dropped stream ends the watch; callers re-list and resume
            from urllib3.exceptions import HTTPError as Urllib3Error

            if not isinstance(exc, Urllib3Error | OSError):
                raise
        finally:
            response.release_conn()

    def logs(
        self,
        pod: str,
        namespace: str | None = None,
        *,
        follow: bool = False,
        container: str = "",
        since_seconds: int | None = None,
    ) -> Iterator[str]:
        path = self.path(*kinds.POD.ref(), namespace or self.namespace, pod, "log")
        query = {"follow": "true" if follow else None, "container": container or None, "sinceSeconds": since_seconds}
        # A node that cannot serve logs answers 500 through the API server; that is
        # not worth the full retry deadline of other requests.
        response = self.request(
            "GET",
            path,
            query=query,
            stream=True,
            read_timeout=None if follow else 30,
            what=f"logs of pod {pod}",
            resource="Pod",
            name=pod,
            deadline=time.monotonic() + min(self.timeout, 5.0),
        )
        try:
            for line in _lines(response):
                yield line.decode("utf-8", "replace")
        finally:
            response.release_conn()


@dataclass(frozen=True)
class Listing:
    items: list[dict[str, Any]]
    resource_version: str  # where a watch of the same objects starts


@dataclass
class Pages:
    """One list, page by page (``limit`` objects each, 0: all at once), following the server's ``continue``.

    A big list never sits whole in memory, in the server's answer or here;
    ``resource_version`` is set once the last page is in (every page of a
    list is read at the same version).
    """

    cluster: Cluster
    api_version: str
    kind: str
    namespace: str | None = None
    label_selector: str = ""
    limit: int = 500
    field_selector: str = ""
    resource_version: str = ""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        path = self.cluster.path(self.api_version, self.kind, self.namespace)
        token = ""
        while True:
            query = {
                "labelSelector": self.label_selector or None,
                "fieldSelector": self.field_selector or None,
                "limit": self.limit or None,
                "continue": token or None,
            }
            page = self.cluster.request(
                "GET", path, query=query, what=_described(self.kind, self.namespace), verb="list", resource=self.kind
            )
            items = page.get("items") or []
            meta = page.get("metadata") or {}
            token = str(meta.get("continue") or "")
            del page
            items.reverse()
            while items:  # handed out one at a time, so each goes once the caller lets go of it
                item = items.pop()
                item.setdefault("apiVersion", self.api_version)  # list responses leave these out of each item
                item.setdefault("kind", self.kind)
                yield item
                del item
            if not token:
                self.resource_version = str(meta.get("resourceVersion") or "")
                return


def _described(kind: str, namespace: str | None) -> str:
    """A listing's objects in words: ``pods in namespace ml``."""
    known = kinds.named(kind)
    if known is None:
        return kind
    where = "" if not known.namespaced else f" in namespace {namespace}" if namespace else " in all namespaces"
    return known.plural + where


T = TypeVar("T")
R = TypeVar("R")
# Requests sent at once; the connection pool keeps more (see connect). A deploy
# of 500 functions (4,000 dry runs and writes) waits mostly on the API server
# and etcd: on a busy 2-core testbed, 32 at a time took a median 21 s, 8 took 29 s.
WORKERS = 32
# connections kept open to the API server: room for the monitor's aborts at once
# (each a few requests, some of them concurrent reads) without opening and closing TLS sessions
POOL_SIZE = 64


def concurrently(work: Callable[[T], R], items: Sequence[T], workers: int = WORKERS) -> list[R]:
    """``work`` over ``items`` on a few threads (requests wait on the network), results in order.

    The first error raised is raised again once every call has ended.
    """
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="mlctl-api") as pool:
        futures = [pool.submit(work, item) for item in items]
    return [future.result() for future in futures]


def _lines(response: Any) -> Iterator[bytes]:
    """The lines of a streamed response as they arrive (the last one may lack its newline)."""
    buffer = b""
    for chunk in response.stream(4096, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line
    if buffer:
        yield buffer


def _timeout(stream: bool, read_timeout: float | None, deadline: float) -> Any:
    """A stream waits as long as its caller says; a request no longer than its deadline (1 to 30 s)."""
    import urllib3

    if stream:
        return urllib3.Timeout(connect=5.0, read=read_timeout)
    return urllib3.Timeout(connect=5.0, read=max(1.0, min(30.0, deadline - time.monotonic())))


def _json(response: Any) -> Any:
    data = response.data
    response.release_conn()
    return json.loads(data) if data else {}


def _backoff(attempt: int, deadline: float) -> None:
    delay = min(2.0 ** (attempt - 1) * 0.2, 2.0) * (0.5 + random.random())
    time.sleep(max(0.0, min(delay, deadline - time.monotonic())))


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text.split(":")[-1].strip()[:120] or type(exc).__name__


_VERBS = {"GET": "get", "PATCH": "patch", "POST": "create", "DELETE": "delete", "PUT": "update"}


def _server_message(data: bytes | None, reason: str) -> str:
    """The API server's own words from an error response (its Status ``message``), else the HTTP reason."""
    body = _status_body(data)
    return str(body.get("message") or reason or "no message")


def _status_body(data: bytes | None) -> dict[str, Any]:
    try:
        body = json.loads(data) if data else {}
    except (TypeError, ValueError):
        body = {}
    return body if isinstance(body, dict) else {}


def translate(failure: errors.ClusterFailure, data: bytes | None, what: str, reason: str = "") -> errors.ClusterError:
    """An API server's error response as mlctl's own error, with the server's message.

    The verb is Kubernetes' own (``patch``, ``list`` ...), the one RBAC rules name,
    so a refused user knows what permission to ask for. The error keeps the
    failure's parts (status, verb, resource, name, message) for callers to read.
    """
    message, verb, status = failure.server_message, failure.verb, failure.status
    if status == 401:
        return errors.Unauthorized(f"the API server did not accept your credentials (401): {message}", failure=failure)
    if status == 403:
        return errors.Forbidden(f"forbidden: you may not {verb} {what}: {message}", failure=failure)
    if status == 404:
        return errors.NotFound(f"{what} not found: {message}", failure=failure)
    if status == 409:
        return errors.Conflict(f"conflict on {what}: {message}", failure=failure)
    if status == 422:
        causes = (_status_body(data).get("details") or {}).get("causes") or []
        fields = "; ".join(f"{c.get('field', '?')}: {c.get('message', '')}" for c in causes)
        return errors.Invalid(f"the API server rejected {what}: {fields or message}", failure=failure)
    return errors.ClusterError(f"{verb} {what} failed ({status} {reason}): {message}", failure=failure)


def connect(
    kubeconfig_path: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    timeout: float = 30.0,
) -> Cluster:
    """Load kubeconfig as kubectl does (KUBECONFIG, --kubeconfig, --context), else in-cluster config."""
    from mlctl.cluster import transport

    target = kubeconfig.load(kubeconfig_path, context)
    if transport.needs_official_client(target):
        link = transport.official(kubeconfig_path, context, POOL_SIZE)
    else:
        link = transport.open_target(target, POOL_SIZE)
    return Cluster(transport=link, namespace=namespace or target.namespace, context=target.context, timeout=timeout)


def configured(kubeconfig_path: str | None = None, context: str | None = None) -> bool:
    """Whether any cluster is configured (for the local-run fallback); no network."""
    return kubeconfig.configured(kubeconfig_path, os.environ, context)
