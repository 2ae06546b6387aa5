"""Which cluster to talk to, and as whom: kubeconfig as kubectl reads it.

``--kubeconfig`` names one file; otherwise every file in ``KUBECONFIG``
(``os.pathsep``-separated, missing ones skipped), merged as kubectl merges
them: the first file to define a cluster, user or context name wins, and
the first non-empty ``current-context`` is the one. Paths inside a file are
relative to that file. Without any kubeconfig, a pod's service account (the
in-cluster config) is used.

The result is a ``Target``: plain data, no connection. ``transport`` turns
it into one.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlctl import errors

DEFAULT = "~/.kube/config"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Target:
    """A resolved context: the server, how to trust it, and the credentials to send."""

    server: str
    context: str = ""
    namespace: str = "default"
    ca_pem: str = ""  # the certificate authority, inline (certificate-authority-data)
    ca_file: str = ""
    insecure: bool = False
    tls_server_name: str = ""
    proxy_url: str = ""
    cert_pem: str = ""
    cert_file: str = ""
    key_pem: str = field(default="", repr=False)
    key_file: str = ""
    token: str = field(default="", repr=False)
    token_file: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    exec: Mapping[str, Any] | None = None  # a client-go credential plugin
    auth_provider: Mapping[str, Any] | None = field(default=None, repr=False)  # legacy (oidc, gcp ...)
    impersonate: str = ""
    impersonate_groups: tuple[str, ...] = ()
    source: str = ""  # where it came from, for messages

    @property
    def cluster_info(self) -> dict[str, Any]:
        """The cluster as an exec plugin sees it (``provideClusterInfo``)."""
        info: dict[str, Any] = {"server": self.server, "insecure-skip-tls-verify": self.insecure}
        if self.ca_pem:
            info["certificate-authority-data"] = base64.b64encode(self.ca_pem.encode()).decode()
        if self.tls_server_name:
            info["tls-server-name"] = self.tls_server_name
        return info


def files(explicit: str | None, environ: Mapping[str, str]) -> list[Path]:
    """The kubeconfig files to read, in precedence order."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise errors.InvalidInput(f"kubeconfig: {explicit} does not exist")
        return [path]
    listed = environ.get("KUBECONFIG", "")
    if listed:
        return [Path(p).expanduser() for p in listed.split(os.pathsep) if p and Path(p).expanduser().is_file()]
    default = Path(DEFAULT).expanduser()
    return [default] if default.is_file() else []


def configured(explicit: str | None, environ: Mapping[str, str], context: str | None = None) -> bool:
    """Whether a cluster is configured: a kubeconfig with a context to use, or a pod's service account.

    A kubeconfig without a current context (an empty ``~/.kube/config``)
    names no cluster, as for kubectl. One that cannot be read counts as
    configured, so that connecting reports what is wrong with it.
    """
    if explicit or context:
        return True
    try:
        paths = files(None, environ)
        if paths and merge([(path, _read(path)) for path in paths]).current_context:
            return True
    except errors.InvalidInput:
        return True
    return in_cluster(environ) is not None


def load(explicit: str | None = None, context: str | None = None, environ: Mapping[str, str] | None = None) -> Target:
    """The target of ``--context`` (else the current context), else the in-cluster config.

    In a pod, a kubeconfig that names no context gives way to the service
    account, as client-go's loading rules do.
    """
    environ = os.environ if environ is None else environ
    paths = files(explicit, environ)
    account = None if explicit or context else in_cluster(environ)
    if paths:
        merged = merge([(path, _read(path)) for path in paths])
        if merged.current_context or account is None:
            return select(merged, context, ", ".join(map(str, paths)))
    if account is not None:
        return account
    if context:
        raise errors.InvalidInput(f"kubeconfig: context '{context}' does not exist (no kubeconfig file found)")
    raise errors.Unreachable(
        "no cluster configured: no kubeconfig (KUBECONFIG, ~/.kube/config) and not running in a cluster"
    )


def _read(path: Path) -> Mapping[str, Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=False).load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise errors.InvalidInput(f"kubeconfig: {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except OSError as exc:
        raise errors.InvalidInput(f"kubeconfig: cannot read {path}: {exc.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise errors.InvalidInput(f"kubeconfig: {path}: not a kubeconfig (a mapping is expected at the top)")
    return data


@dataclass(frozen=True)
class Merged:
    """Several kubeconfig files as one: each entry keeps the folder of the file that defined it."""

    current_context: str
    contexts: Mapping[str, Mapping[str, Any]]
    clusters: Mapping[str, tuple[Mapping[str, Any], Path]]
    users: Mapping[str, tuple[Mapping[str, Any], Path]]


def merge(documents: list[tuple[Path, Mapping[str, Any]]]) -> Merged:
    """kubectl's merge (pure): the first definition of a name wins, the first current-context wins."""
    current = ""
    contexts: dict[str, Mapping[str, Any]] = {}
    clusters: dict[str, tuple[Mapping[str, Any], Path]] = {}
    users: dict[str, tuple[Mapping[str, Any], Path]] = {}
    for path, document in documents:
        current = current or str(document.get("current-context") or "")
        for entry in _entries(document, "contexts", path):
            contexts.setdefault(entry["name"], entry.get("context") or {})
        for key, owned, inner in (("clusters", clusters, "cluster"), ("users", users, "user")):
            for entry in _entries(document, key, path):
                owned.setdefault(entry["name"], (entry.get(inner) or {}, path.parent))
    return Merged(current, contexts, clusters, users)


def _entries(document: Mapping[str, Any], key: str, path: Path) -> list[Mapping[str, Any]]:
    entries = document.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) and e.get("name") for e in entries):
        raise errors.InvalidInput(f"kubeconfig: {path}: {key} must be a list of entries, each with a name")
    return entries


def select(merged: Merged, context: str | None, source: str) -> Target:
    """The target of one context (pure): its cluster and user, paths made absolute."""
    name = context or merged.current_context
    if not name:
        raise errors.InvalidInput(f"kubeconfig: no current context is set in {source}; pass --context")
    if name not in merged.contexts:
        known = ", ".join(sorted(merged.contexts)) or "none"
        raise errors.InvalidInput(f"kubeconfig: context '{name}' does not exist in {source} (contexts: {known})")
    ctx = merged.contexts[name]
    cluster_name, user_name = str(ctx.get("cluster") or ""), str(ctx.get("user") or "")
    if cluster_name not in merged.clusters:
        raise errors.InvalidInput(f"kubeconfig: context '{name}' names cluster '{cluster_name}', which is not defined")
    cluster, cluster_dir = merged.clusters[cluster_name]
    user, user_dir = merged.users.get(user_name, ({}, Path()))
    if user_name and user_name not in merged.users:
        raise errors.InvalidInput(f"kubeconfig: context '{name}' names user '{user_name}', which is not defined")
    server = _server(cluster, cluster_name)

    def data(entry: Mapping[str, Any], key: str) -> str:
        value = entry.get(key)
        if not value:
            return ""
        try:
            return base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise errors.InvalidInput(f"kubeconfig: {key} of context '{name}' is not base64-encoded PEM") from None

    def file(entry: Mapping[str, Any], key: str, folder: Path) -> str:
        value = entry.get(key)
        return str(folder / Path(str(value)).expanduser()) if value else ""

    exec_config = _exec_plugin(user, user_name, user_dir)
    groups = user.get("as-groups") or []
    return Target(
        server=server.rstrip("/"),
        context=name,
        namespace=str(ctx.get("namespace") or "default"),
        ca_pem=data(cluster, "certificate-authority-data"),
        ca_file=file(cluster, "certificate-authority", cluster_dir),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=str(cluster.get("tls-server-name") or ""),
        proxy_url=str(cluster.get("proxy-url") or ""),
        cert_pem=data(user, "client-certificate-data"),
        cert_file=file(user, "client-certificate", user_dir),
        key_pem=data(user, "client-key-data"),
        key_file=file(user, "client-key", user_dir),
        token=str(user.get("token") or ""),
        token_file=file(user, "tokenFile", user_dir),
        username=str(user.get("username") or ""),
        password=str(user.get("password") or ""),
        exec=exec_config,
        auth_provider=user.get("auth-provider") or None,
        impersonate=str(user.get("as") or ""),
        impersonate_groups=tuple(str(g) for g in groups),
        source=source,
    )


def _server(cluster: Mapping[str, Any], cluster_name: str) -> str:
    server = str(cluster.get("server") or "")
    if not server:
        raise errors.InvalidInput(f"kubeconfig: cluster '{cluster_name}' has no server")
    if urlsplit(server).scheme not in ("https", "http"):
        raise errors.InvalidInput(f"kubeconfig: the server '{server}' of cluster '{cluster_name}' is not an http URL")
    return server


def _exec_plugin(user: Mapping[str, Any], user_name: str, user_dir: Path) -> Any:
    """The user's exec credential plugin, its command made absolute when given with a path."""
    exec_config = user.get("exec")
    if exec_config is not None and not (isinstance(exec_config, Mapping) and exec_config.get("command")):
        raise errors.InvalidInput(f"kubeconfig: the exec plugin of user '{user_name}' has no command")
    if isinstance(exec_config, Mapping):
        command = str(exec_config["command"])
        # a command given with a path is relative to the file; a bare name is looked up on PATH
        if os.sep in command and not Path(command).is_absolute():
            exec_config = {**exec_config, "command": str(user_dir / command)}
    return exec_config


def in_cluster(environ: Mapping[str, str], account: Path | None = None) -> Target | None:
    """The pod's service account, as client-go's in-cluster config; None outside a cluster."""
    account = account or SERVICE_ACCOUNT
    host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "")
    token = account / "token"
    if not host or not port or not token.is_file():
        return None
    try:
        namespace = (account / "namespace").read_text(encoding="utf-8").strip()
    except OSError:
        namespace = ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return Target(
        server=f"https://{host}:{port}",
        context="in-cluster",
        namespace=namespace or "default",
        ca_file=str(account / "ca.crt"),
        token_file=str(token),
        source="the pod's service account",
    )
