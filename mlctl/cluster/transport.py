"""A connection to an API server: a urllib3 pool with TLS set up from a ``Target``, and its credentials.

Built on the standard library's ``ssl`` and on urllib3, which load in a few
milliseconds: every cluster command starts with this, and the official
client takes about 0.2 s to import. The official client is used for what
only it implements, the legacy ``auth-provider`` plugins (oidc, gcp,
azure) and SOCKS proxies; ``official`` builds that transport.

Credentials are sent as headers and refreshed as client-go refreshes them:
a ``tokenFile`` is read again after a minute (service-account tokens
rotate), an exec plugin runs again when its credential expires or the
server answers 401.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3

from mlctl import errors
from mlctl.cluster.kubeconfig import Target

TOKEN_FILE_TTL = 60.0  # seconds a token file is trusted before it is read again (client-go's figure)
# () -> headers, a client certificate and key (PEM) or None, until when they hold (monotonic seconds)
Credentials = Callable[[], tuple[dict[str, str], tuple[str, str] | None, float]]


class Transport:
    """The pool requests go through and the headers they carry; safe to share between threads."""

    def __init__(
        self,
        host: str,
        make_pool: Callable[[tuple[str, str] | None], urllib3.PoolManager],
        credentials: Credentials,
    ) -> None:
        self.host = host
        self._make_pool = make_pool
        self._credentials = credentials
        self._lock = threading.Lock()
        self._headers: dict[str, str] = {}
        self._cert: tuple[str, str] | None = None
        self._expires = 0.0
        self._pool: urllib3.PoolManager | None = None
        self._generation = 0  # how many times credentials were fetched

    def current(self) -> tuple[urllib3.PoolManager, dict[str, str], int]:
        """The pool, the headers to send, and their generation (for ``refresh``)."""
        with self._lock:
            if self._pool is None or time.monotonic() >= self._expires:
                self._fetch()
            assert self._pool is not None
            return self._pool, dict(self._headers), self._generation

    def refresh(self, generation: int) -> None:
        """New credentials after a 401, unless a request refused at the same time has fetched them already."""
        with self._lock:
            if generation == self._generation:
                self._fetch()

    def _fetch(self) -> None:
        headers, cert, self._expires = self._credentials()
        if self._pool is None or cert != self._cert:
            if self._pool is not None:
                self._pool.clear()
            self._pool = self._make_pool(cert)
        self._headers, self._cert = headers, cert
        self._generation += 1


def open_target(target: Target, pool_size: int) -> Transport:
    """A transport for a target from kubeconfig or the in-cluster config."""
    scheme = urlsplit(target.server).scheme
    proxy = proxy_for(target.server, target.proxy_url, os.environ)
    if target.insecure:
        import warnings

        from urllib3.exceptions import InsecureRequestWarning

        # the kubeconfig asked for it (insecure-skip-tls-verify); kubectl says nothing either
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)

    def make_pool(cert: tuple[str, str] | None) -> urllib3.PoolManager:
        options: dict[str, Any] = {"num_pools": 2, "maxsize": pool_size}
        if scheme == "https":
            options["ssl_context"] = tls_context(target, cert)
            if target.tls_server_name:
                options["server_hostname"] = target.tls_server_name
        if proxy:
            return urllib3.ProxyManager(proxy, **options)
        return urllib3.PoolManager(**options)

    link = Transport(target.server, make_pool, _credentials(target))
    link.current()  # a bad CA, key or credential plugin fails here, before any request
    return link


def needs_official_client(target: Target) -> bool:
    proxy = proxy_for(target.server, target.proxy_url, os.environ)
    return bool(target.auth_provider) or urlsplit(proxy).scheme.startswith("socks")


def tls_context(target: Target, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    """Trust the target's CA (else the system's), present its client certificate, as kubectl does."""
    try:
        context = ssl.create_default_context(cafile=target.ca_file or None, cadata=target.ca_pem or None)
    except ssl.SSLError as exc:
        raise errors.InvalidInput(f"kubeconfig: the certificate authority of {target.context}: {exc}") from None
    except OSError as exc:
        raise errors.InvalidInput(
            f"kubeconfig: the certificate authority of {target.context}: {target.ca_file}: {exc.strerror}"
        ) from None
    if target.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert_pem, key_pem = cert or (target.cert_pem, target.key_pem)
    if cert_pem or target.cert_file:
        _load_client_certificate(context, target, cert_pem, key_pem)
    return context


def _load_client_certificate(context: ssl.SSLContext, target: Target, cert_pem: str, key_pem: str) -> None:
    """The ssl module reads a client key only from a file: inline ones pass through a private one, then go."""
    if not cert_pem and not key_pem:
        files = (target.cert_file, target.key_file or target.cert_file)
        try:
            context.load_cert_chain(*files)
        except ssl.SSLError as exc:
            raise errors.InvalidInput(f"kubeconfig: the client certificate of {target.context}: {exc}") from None
        except OSError as exc:
            where = " / ".join(dict.fromkeys(files))
            raise errors.InvalidInput(
                f"kubeconfig: the client certificate of {target.context}: {where}: {exc.strerror}"
            ) from None
        return
    try:
        cert = cert_pem or Path(target.cert_file).read_text(encoding="utf-8")
        key = key_pem or Path(target.key_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.InvalidInput(
            f"kubeconfig: the client certificate of {target.context}: {exc.filename}: {exc.strerror}"
        ) from None
    with tempfile.TemporaryDirectory(prefix="mlctl-tls-") as folder:  # mode 0700
        chain = Path(folder) / "client.pem"
        descriptor = os.open(chain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(f"{cert.strip()}\n{key.strip()}\n")
        try:
            context.load_cert_chain(str(chain))
        except (OSError, ssl.SSLError) as exc:
            raise errors.InvalidInput(f"kubeconfig: the client certificate of {target.context}: {exc}") from None


def proxy_for(server: str, proxy_url: str, environ: Mapping[str, str]) -> str:
    """The proxy to reach ``server`` through (pure): kubeconfig's proxy-url, else HTTPS_PROXY / NO_PROXY.

    As in Go, localhost and loopback addresses are never proxied from the environment.
    """
    if proxy_url:
        return proxy_url
    parts = urlsplit(server)
    host = parts.hostname or ""
    if host == "localhost" or _loopback(host):
        return ""
    name = f"{parts.scheme}_proxy"
    proxy = environ.get(name.upper()) or environ.get(name) or ""
    no_proxy = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    if not proxy or _excluded(host, parts.port or (443 if parts.scheme == "https" else 80), no_proxy):
        return ""
    return proxy


def _excluded(host: str, port: int, no_proxy: str) -> bool:
    """Whether NO_PROXY names the host (Go's rules: *, domains and their subdomains, IPs, CIDRs, :port)."""
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            if ip_address(host.strip("[]")) in ip_network(entry, strict=False):
                return True
            continue
        except ValueError:
            pass
        name, _, wanted = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if wanted and wanted != str(port):
            continue
        domain = name.lstrip(".")
        if host.lower() == domain or host.lower().endswith("." + domain):
            return True
    return False


def _loopback(host: str) -> bool:
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _credentials(target: Target) -> Credentials:
    """How to get what to send: headers, a client certificate and key (PEM), until when (monotonic)."""
    fixed: dict[str, str] = {}
    if target.impersonate:
        fixed["Impersonate-User"] = target.impersonate
    if target.impersonate_groups:
        fixed["Impersonate-Group"] = ",".join(target.impersonate_groups)
    forever = float("inf")

    if target.exec:
        plugin = target.exec

        def from_plugin() -> tuple[dict[str, str], tuple[str, str] | None, float]:
            status, expires = run_plugin(plugin, target)
            headers = dict(fixed)
            if status.get("token"):
                headers["Authorization"] = f"Bearer {status['token']}"
            cert = None
            if status.get("clientCertificateData"):
                cert = (str(status["clientCertificateData"]), str(status.get("clientKeyData") or ""))
            return headers, cert, expires

        return from_plugin
    if target.token_file and not target.token:

        def from_file() -> tuple[dict[str, str], tuple[str, str] | None, float]:
            try:
                token = Path(target.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise errors.Unauthorized(f"cannot read the token file {target.token_file}: {exc.strerror}") from None
            return {**fixed, "Authorization": f"Bearer {token}"}, None, time.monotonic() + TOKEN_FILE_TTL

        return from_file
    headers = dict(fixed)
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    elif target.username:
        basic = base64.b64encode(f"{target.username}:{target.password}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    return lambda: (headers, None, forever)


def run_plugin(plugin: Mapping[str, Any], target: Target) -> tuple[dict[str, Any], float]:
    """Run a client-go credential plugin; its ExecCredential status and when it expires (monotonic)."""
    command = str(plugin["command"])
    api_version = str(plugin.get("apiVersion") or "client.authentication.k8s.io/v1")
    mode = str(plugin.get("interactiveMode") or "IfAvailable")
    interactive = mode != "Never" and sys.stdin is not None and sys.stdin.isatty()
    spec: dict[str, Any] = {"interactive": interactive}
    if plugin.get("provideClusterInfo"):
        spec["cluster"] = target.cluster_info
    env = dict(os.environ)
    env.update({str(e.get("name")): str(e.get("value", "")) for e in plugin.get("env") or []})
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "spec": spec})
    hint = f" {plugin['installHint'].strip()}" if plugin.get("installHint") else ""
    try:
        done = subprocess.run(
            [command, *[str(a) for a in plugin.get("args") or []]],
            env=env,
            stdin=None if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            check=False,
        )
    except OSError as exc:
        raise errors.Unauthorized(f"cannot run the credential plugin '{command}': {exc.strerror}.{hint}") from None
    if done.returncode != 0:
        raise errors.Unauthorized(f"the credential plugin '{command}' failed (exit {done.returncode})")
    try:
        credential = json.loads(done.stdout)
        status = credential["status"]
        if not isinstance(status, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise errors.Unauthorized(f"the credential plugin '{command}' did not print an ExecCredential") from None
    if not status.get("token") and not status.get("clientCertificateData"):
        raise errors.Unauthorized(f"the credential plugin '{command}' returned neither a token nor a certificate")
    expires = float("inf")
    if status.get("expirationTimestamp"):
        try:
            when = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        except ValueError:
            raise errors.Unauthorized(f"the credential plugin '{command}' gave a bad expirationTimestamp") from None
        expires = time.monotonic() + (when.timestamp() - time.time())
    return status, expires


def official(kubeconfig: str | None, context: str | None, pool_size: int) -> Transport:
    """The official client's connection, for what only it implements (auth-provider plugins, SOCKS)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"  # the client merges a list
        loader = config.kube_config._get_kube_config_loader(  # type: ignore[no-untyped-call]
            filename=path, active_context=context
        )
        loader.load_and_set(configuration)
    except (ConfigException, OSError) as exc:
        raise errors.InvalidInput(f"kubeconfig: {exc}") from None
    configuration.retries = False  # retries are mlctl's, with a deadline
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, pool_size)
    api = client.ApiClient(configuration)

    def credentials() -> tuple[dict[str, str], tuple[str, str] | None, float]:
        # the client refreshes auth-provider tokens itself when it builds a request's headers
        _, _, headers, _, _ = api.param_serialize(
            method="GET", resource_path="/", header_params={}, auth_settings=["BearerToken"]
        )
        return {k: v for k, v in headers.items() if k.lower() == "authorization"}, None, time.monotonic() + 30.0

    return Transport(str(configuration.host), lambda cert: api.rest_client.pool_manager, credentials)
