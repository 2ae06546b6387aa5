"""A real, local Kubernetes control plane for the integration tests.

``Testbed`` runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok as local processes on 127.0.0.1 (free ports, one temporary directory).
Nothing is mocked: requests go through real authentication, RBAC and Node
authorization, the default admission plugins (Priority, ResourceQuota,
ServiceAccount, ...), the scheduler and the controllers. Only the kubelets are
simulated: kwok plays the fake nodes and moves pods through their phases
according to the stages in ``stages/``.

What a started testbed holds:

* nodes (kwok-managed, annotation ``kwok.x-k8s.io/node: fake``):
  ``cpu-1``, ``cpu-2`` on-demand (8 cpu, 32Gi, 110 pods);
  ``spot-1``, ``spot-2`` labelled ``node-lifecycle: spot`` and tainted
  ``node-lifecycle=spot:NoSchedule``; ``gpu-1`` (16 cpu, 64Gi,
  ``nvidia.com/gpu: 4``, labelled ``accelerator: nvidia``);
  every node also carries ``mlctl.test/pool: cpu|spot|gpu``;
* PriorityClasses ``low`` (1000), ``medium`` (10000) and ``high`` (100000),
  none of them the global default;
* the CRDs in ``crds/`` (MPIJob, Dask, SparkApplication, NuclioFunction), with
  their upstream OpenAPI schemas, so server-side validation and dry-run are real;
* two identities, each with its own kubeconfig: ``admin`` (group
  ``system:masters``) and ``mlctl-restricted``, which may only get, list and
  watch pods in namespaces handed to it with ``grant_pod_reader``.

Pod behaviour on the fake nodes (see ``stages/pod.yaml``): pods start Running at
once; pods with restartPolicy Never or OnFailure (Job pods, bare run-to-completion
pods) succeed after ``mlctl.test/run-duration`` (annotation, Go duration,
default 1s); restartPolicy Always pods keep running. The pod label
``mlctl.test/behavior`` selects a failure instead: ``image-pull-backoff``,
``fail`` or ``crash-loop-backoff``.

Beside the control plane run its add-ons, each with its own identity and RBAC:
metrics-server (behind the ``metrics.k8s.io`` APIService), the MPI Operator
and the Dask Kubernetes operator. kwok serves every node's kubelet API on
127.0.0.1 (the nodes' InternalIP): pod logs from files a test writes
(``serve_logs``), resource metrics from usage a test sets (``set_cpu_usage``).
``reclaim_node`` takes a spot node back as a cloud would.

Components come from ``build.sh`` (built once into a cache outside the repository).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build.sh"
STAGES_DIR = HERE / "stages"
CRDS_DIR = HERE / "crds"

ADMIN_KUBECONFIG = "admin.kubeconfig"
RESTRICTED_KUBECONFIG = "restricted.kubeconfig"
RESTRICTED_USER = "mlctl-restricted"
POD_READER_ROLE = "mlctl-test-pod-reader"
TEST_NAMESPACE_LABEL = "mlctl.test"
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
PRIORITY_CLASSES = {"low": 1000, "medium": 10000, "high": 100000}
SERVICE_CIDR = "10.96.0.0/16"
START_TIMEOUT = 120.0
METRICS_SERVER_USER = "system:metrics-server"
METRICS_SERVER_SERVICE = "metrics-server"
MPI_OPERATOR_USER = "mpi-operator"
MPI_OPERATOR_LOCK_NAMESPACE = "mpi-operator"
DASK_OPERATOR_USER = "dask-kubernetes-operator"
# kwok CRDs whose objects tests create while the testbed runs.
KWOK_RUNTIME_CRDS = ("Logs", "ClusterLogs", "ResourceUsage", "ClusterResourceUsage")
RECLAIM_TAINT = {"key": "mlctl.test/reclaimed", "value": "spot", "effect": "NoExecute"}


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, list[str]]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


_READ = ["get", "list", "watch"]
_ALL = ["*"]
# What each add-on may do, as its own manifests grant it.
ADDON_RULES: dict[str, list[dict[str, list[str]]]] = {
    METRICS_SERVER_USER: [
        _rule([""], ["nodes/metrics"], ["get"]),
        _rule([""], ["pods", "nodes"], _READ),
    ],
    MPI_OPERATOR_USER: [
        _rule([""], ["configmaps", "secrets", "services"], ["create", "get", "list", "watch", "update", "delete"]),
        _rule([""], ["pods"], ["create", "get", "list", "watch", "delete", "update", "patch"]),
        _rule([""], ["pods/exec"], ["create"]),
        _rule([""], ["endpoints"], ["create", "get", "update"]),
        _rule([""], ["events"], ["create", "patch"]),
        _rule(["batch"], ["jobs"], ["create", "get", "list", "update", "watch", "delete"]),
        _rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["create", "get"]),
        _rule(["kubeflow.org"], ["mpijobs", "mpijobs/finalizers", "mpijobs/status"], _ALL),
        _rule(["coordination.k8s.io"], ["leases"], _ALL),
        _rule(["scheduling.k8s.io"], ["priorityclasses"], _READ),
        _rule(["scheduling.volcano.sh", "scheduling.x-k8s.io"], ["queues", "podgroups"], _ALL),
    ],
    DASK_OPERATOR_USER: [
        _rule(["kubernetes.dask.org"], _ALL, _ALL),
        _rule([""], ["pods", "pods/status", "services", "events", "secrets", "configmaps"], _ALL),
        _rule(["apps"], ["deployments"], _ALL),
        _rule(["batch"], ["jobs"], _ALL),
        _rule(["policy"], ["poddisruptionbudgets"], _ALL),
        _rule(["events.k8s.io"], ["events"], _ALL),
        _rule([""], ["namespaces"], _READ),
        _rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], _READ),
    ],
}


class TestbedError(RuntimeError):
    """The testbed could not be built or started; the message says why."""


@dataclass(frozen=True)
class NodeSpec:
    """A fake node: what the testbed creates and kwok then keeps Ready."""

    name: str
    pool: str
    capacity: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)


_CPU = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
_SPOT_TAINT = {"key": "node-lifecycle", "value": "spot", "effect": "NoSchedule"}
NODES: tuple[NodeSpec, ...] = (
    NodeSpec("cpu-1", "cpu", _CPU),
    NodeSpec("cpu-2", "cpu", _CPU),
    NodeSpec("spot-1", "spot", _CPU, {"node-lifecycle": "spot"}, [_SPOT_TAINT]),
    NodeSpec("spot-2", "spot", _CPU, {"node-lifecycle": "spot"}, [_SPOT_TAINT]),
    NodeSpec(
        "gpu-1",
        "gpu",
        {**_CPU, "cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "4"},
        {"accelerator": "nvidia", "nvidia.com/gpu.present": "true"},
    ),
)


def bulk_node_specs(count: int, pods_per_node: int = 110) -> tuple[NodeSpec, ...]:
    """``count`` plain on-demand nodes for load benchmarks, ``pods_per_node`` pods each."""
    capacity = {**_CPU, "cpu": "64", "memory": "256Gi", "pods": str(pods_per_node)}
    return tuple(NodeSpec(f"bulk-{i}", "bulk", capacity) for i in range(1, count + 1))


# --------------------------------------------------------------------------- build


@dataclass(frozen=True)
class Builds:
    """Where ``build.sh`` put each component (each in its own versioned cache directory)."""

    k8s: Path  # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok
    mpi_operator: Path
    metrics_server: Path
    kwok_crds: Path
    dask_venv: Path


_BUILD_ERRORS = {
    3: "Go (1.24 or newer) is not on PATH, and the binaries are built from Go modules",
    4: "a Go module could not be downloaded or built (see the messages above)",
    5: "the Dask operator's venv could not be made (see pip's messages above)",
}


def build() -> Builds:
    """Run build.sh (instant when cached) and return where the components are."""
    # Progress goes to stderr so a long cold build is visible; stdout lists the directories.
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )
    if proc.returncode != 0:
        reason = _BUILD_ERRORS.get(proc.returncode, f"{BUILD_SCRIPT} exited with {proc.returncode}")
        raise TestbedError(f"cannot build the testbed components: {reason}")
    where = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines() if " " in line)
    try:
        return Builds(
            k8s=Path(where["k8s"]),
            mpi_operator=Path(where["mpi-operator"]),
            metrics_server=Path(where["metrics-server"]),
            kwok_crds=Path(where["kwok-crds"]),
            dask_venv=Path(where["dask-venv"]),
        )
    except KeyError as e:
        raise TestbedError(f"{BUILD_SCRIPT} did not report the directory of {e}") from None


# --------------------------------------------------------------------------- PKI


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class _CertPair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _make_ca() -> _CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlctl-testbed-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Back-dated a little so small clock differences never matter.
        .not_valid_before(_now() - datetime.timedelta(hours=1))
        .not_valid_after(_now() + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _CertPair(cert, key)


def _issue(
    ca: _CertPair,
    common_name: str,
    *,
    groups: tuple[str, ...] = (),
    server_names: tuple[str, ...] = (),
    server_ips: tuple[str, ...] = (),
) -> _CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    server = bool(server_names or server_ips)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(hours=1))
        .not_valid_after(_now() + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if server:
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return _CertPair(builder.sign(ca.key, hashes.SHA256()), key)


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child before exec: if the test run is killed outright, the
    # kernel sends SIGTERM to the component, so no orphan keeps ports busy.
    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


@dataclass
class _Component:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole process group, SIGKILL whatever is left after timeout."""
        pgid = self.popen.pid  # started with start_new_session, so pid == pgid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        # Children of the leader may outlive it; the group goes in any case.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


# --------------------------------------------------------------------------- testbed


class Testbed:
    """A local control plane with kwok nodes; see the module docstring.

    Use ``with Testbed() as tb:`` or ``start()``/``stop()``. ``Testbed.attach``
    wraps one that is already running (``python -m tests.cluster up``).
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        builds: Builds | None = None,
        workdir: Path | None = None,
        keep: bool = False,
        *,
        bulk_nodes: int = 0,
        pods_per_node: int = 110,
        client_qps: int = 0,
    ) -> None:
        self.builds = builds
        # Load benchmarks add plain on-demand nodes ``bulk-1``.. (pool ``bulk``)
        # that take ``pods_per_node`` pods each, and raise the request rate the
        # controller manager and the scheduler allow themselves (``client_qps``,
        # burst twice that), so thousands of pods are scheduled in minutes.
        self.nodes: tuple[NodeSpec, ...] = NODES + bulk_node_specs(bulk_nodes, pods_per_node)
        self.client_qps = client_qps
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="mlctl-testbed-"))
        self.keep = keep
        self.attached = False
        self.server = ""
        self.startup_seconds = 0.0
        self.timings: dict[str, float] = {}  # seconds per startup step
        self._components: list[_Component] = []
        self._api: Any = None

    # -- public -------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (user ``admin``, group ``system:masters``)."""
        return self.workdir / ADMIN_KUBECONFIG

    @property
    def restricted_kubeconfig(self) -> Path:
        """Kubeconfig of ``mlctl-restricted``, which may only read pods where granted."""
        return self.workdir / RESTRICTED_KUBECONFIG

    @property
    def logs(self) -> dict[str, Path]:
        """Log file of each started component."""
        return {c.name: c.log for c in self._components}

    @classmethod
    def attach(cls, kubeconfig: Path) -> Testbed:
        """Use a testbed started elsewhere, given its admin kubeconfig."""
        kubeconfig = Path(kubeconfig).resolve()
        if not kubeconfig.is_file():
            raise TestbedError(f"no kubeconfig at {kubeconfig}")
        tb = cls(workdir=kubeconfig.parent)
        tb.attached = True
        if kubeconfig.name != ADMIN_KUBECONFIG or not tb.restricted_kubeconfig.is_file():
            raise TestbedError(
                f"{kubeconfig} is not the {ADMIN_KUBECONFIG} of a testbed (expected {RESTRICTED_KUBECONFIG} beside it)"
            )
        tb.server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        try:
            client.VersionApi(tb.api).get_code(_request_timeout=5)
        except Exception as e:
            raise TestbedError(f"the testbed at {tb.server} does not answer: {e}") from e
        return tb

    def start(self) -> Testbed:
        """Start every component and wait until the cluster is usable."""
        if self.attached:
            return self
        begin = time.monotonic()
        deadline = begin + START_TIMEOUT
        if self.builds is None:
            self.builds = build()
        steps: list[tuple[str, Callable[[], None]]] = [
            ("certificates", self._write_pki),
            ("etcd", lambda: self._start_etcd(deadline)),
            ("kube-apiserver", lambda: self._start_apiserver(deadline)),
            ("crds", lambda: self._install_crds(deadline)),
            ("controllers", self._start_controllers),
            ("objects", self._install_objects),
            ("ready", lambda: self._wait_ready(deadline)),
            ("add-ons", self._start_addons),
            ("add-ons ready", lambda: self._wait_addons(deadline)),
        ]
        try:
            for name, step in steps:
                t0 = time.monotonic()
                step()
                self.timings[name] = time.monotonic() - t0
        except TestbedError as e:
            report = self._failure_report()
            self.stop()
            raise TestbedError(f"{e}\n{report}") from None
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - begin
        return self

    def stop(self) -> None:
        """Stop every component (reverse start order) and remove the temp dir.

        An attached testbed is left running; only the client is closed.
        """
        if self._api is not None:
            self._api.close()
            self._api = None
        if self.attached:
            return
        for component in reversed(self._components):
            component.stop()
        self._components.clear()
        if self._own_workdir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Testbed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def check_alive(self) -> None:
        """Raise TestbedError (with the log tail) if a component has exited."""
        for c in self._components:
            if not c.alive():
                raise TestbedError(f"{c.name} exited with {c.popen.returncode}; log {c.log}:\n{_tail(c.log)}")

    @property
    def api(self) -> Any:
        """A ``kubernetes.client.ApiClient`` acting as admin."""
        if self._api is None:
            self._api = kube_config.new_client_from_config(config_file=str(self.kubeconfig))
        return self._api

    def create_namespace(self, prefix: str = "t") -> str:
        """Create a uniquely named test namespace (label ``mlctl.test=1``).

        Returns once its default ServiceAccount exists (pods are refused before
        that) and ``mlctl-restricted`` may read its pods.
        """
        core = client.CoreV1Api(self.api)
        clean = "".join(ch if ch.isalnum() else "-" for ch in prefix.lower()).strip("-")
        name = f"{clean[:40].rstrip('-') or 't'}-{secrets.token_hex(3)}"
        core.create_namespace({"metadata": {"name": name, "labels": {TEST_NAMESPACE_LABEL: "1"}}})
        self.grant_pod_reader(name)
        self._wait(
            lambda: self._has_default_sa(name), time.monotonic() + 30, f"default ServiceAccount in namespace {name}"
        )
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace without waiting for it to be gone."""

        try:
            client.CoreV1Api(self.api).delete_namespace(name)
        except ApiException as e:
            if e.status != 404:
                raise

    def grant_pod_reader(self, namespace: str) -> None:
        """Let ``mlctl-restricted`` get/list/watch pods in ``namespace`` (nothing else)."""
        client.RbacAuthorizationV1Api(self.api).create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": POD_READER_ROLE},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": POD_READER_ROLE},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RESTRICTED_USER}],
            },
        )

    # -- startup steps ------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.workdir / name

    def _write_pki(self) -> None:
        pki = self._path("pki")
        pki.mkdir(parents=True, exist_ok=True)
        ca = _make_ca()
        self._ca = ca
        (pki / "ca.crt").write_bytes(_pem_cert(ca.cert))
        (pki / "ca.key").write_bytes(_pem_key(ca.key))
        serving = _issue(
            ca,
            "kube-apiserver",
            server_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            server_ips=("127.0.0.1", str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))),
        )
        (pki / "apiserver.crt").write_bytes(_pem_cert(serving.cert))
        (pki / "apiserver.key").write_bytes(_pem_key(serving.key))
        # Service-account tokens are signed by the controller-manager's key and
        # verified by the apiserver with the public half.
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (pki / "sa.key").write_bytes(_pem_key(sa))
        (pki / "sa.pub").write_bytes(
            sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        clients = {
            "admin": _issue(ca, "admin", groups=("system:masters",)),
            "restricted": _issue(ca, RESTRICTED_USER),
            "controller-manager": _issue(ca, "system:kube-controller-manager"),
            "scheduler": _issue(ca, "system:kube-scheduler"),
            # kwok plays every kubelet at once, so it cannot use per-node
            # identities that the Node authorizer would accept.
            "kwok": _issue(ca, "kwok-controller", groups=("system:masters",)),
            # The apiserver's identity towards aggregated APIs (front proxy).
            "front-proxy": _issue(ca, "front-proxy-client"),
            # ... and towards the kubelets (kwok's kubelet server), for logs.
            "kubelet-client": _issue(ca, "kube-apiserver-kubelet-client", groups=("system:masters",)),
            # The add-ons, each with its own identity and RBAC.
            "metrics-server": _issue(ca, METRICS_SERVER_USER),
            "mpi-operator": _issue(ca, MPI_OPERATOR_USER),
            "dask-operator": _issue(ca, DASK_OPERATOR_USER),
            # Serving certificates: kwok's kubelet server (every node's address
            # is 127.0.0.1) and metrics-server, which the aggregator reaches
            # through a Service and checks against the APIService's caBundle.
            "kubelet": _issue(ca, "kwok-kubelet", server_names=("localhost",), server_ips=("127.0.0.1",)),
            "metrics-server-serving": _issue(
                ca,
                "metrics-server",
                server_names=(f"{METRICS_SERVER_SERVICE}.kube-system.svc",),
                server_ips=("127.0.0.1",),
            ),
        }
        for user, pair in clients.items():
            (pki / f"{user}.crt").write_bytes(_pem_cert(pair.cert))
            (pki / f"{user}.key").write_bytes(_pem_key(pair.key))
        self._clients = clients

    def _write_kubeconfig(self, path: Path, user: str) -> Path:
        pair = self._clients[user]

        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "mlctl-testbed",
                    "cluster": {"server": self.server, "certificate-authority-data": b64(_pem_cert(self._ca.cert))},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(_pem_cert(pair.cert)),
                        "client-key-data": b64(_pem_key(pair.key)),
                    },
                }
            ],
            "contexts": [{"name": f"{user}@mlctl-testbed", "context": {"cluster": "mlctl-testbed", "user": user}}],
            "current-context": f"{user}@mlctl-testbed",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> _Component:
        """Start a component; a bare program name is one of the control-plane binaries."""
        assert self.builds is not None
        program = args[0] if Path(args[0]).is_absolute() else str(self.builds.k8s / args[0])
        log = self._path(f"{name}.log")
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [program, *args[1:]],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        component = _Component(name, popen, log)
        self._components.append(component)
        return component

    def _start_etcd(self, deadline: float) -> None:
        client_port, peer_port = _free_port(), _free_port()
        self._etcd_url = f"http://127.0.0.1:{client_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                "etcd",
                "--name=testbed",
                f"--data-dir={self._path('etcd')}",
                f"--listen-client-urls={self._etcd_url}",
                f"--advertise-client-urls={self._etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=testbed={peer}",
                # Throwaway data: skipping fsync makes every write much faster.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait(lambda: self._http_ok(f"{self._etcd_url}/health"), deadline, "etcd health")

    def _start_apiserver(self, deadline: float) -> None:
        port = _free_port()
        self.server = f"https://127.0.0.1:{port}"
        pki = self._path("pki")
        self._spawn(
            "kube-apiserver",
            [
                "kube-apiserver",
                f"--etcd-servers={self._etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=Node,RBAC",
                # On top of the default plugins (NamespaceLifecycle, LimitRanger,
                # ServiceAccount, Priority, ResourceQuota, DefaultTolerationSeconds,
                # PodSecurity, webhooks, ...).
                "--enable-admission-plugins=NodeRestriction",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The "kubernetes" Service may not point at a loopback address.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                # Front-proxy settings as a kubeadm cluster has them; without them
                # the controller-manager and scheduler log errors about a missing
                # request-header CA.
                f"--requestheader-client-ca-file={pki / 'ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki / 'front-proxy.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy.key'}",
                # Logs, exec and metrics go to kwok's kubelet server at the
                # node's InternalIP (127.0.0.1), never to a name the machine's
                # resolver would have to look up, and its certificate is checked.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            ],
        )
        for user in (
            "admin",
            "restricted",
            "controller-manager",
            "scheduler",
            "kwok",
            "metrics-server",
            "mpi-operator",
            "dask-operator",
        ):
            name = {"admin": ADMIN_KUBECONFIG, "restricted": RESTRICTED_KUBECONFIG}.get(user, f"{user}.kubeconfig")
            self._write_kubeconfig(self._path(name), user)
        self._wait(self._apiserver_ready, deadline, "kube-apiserver /readyz")

    def _start_controllers(self) -> None:
        pki = self._path("pki")
        cm = str(self._path("controller-manager.kubeconfig"))
        self._cm_port, self._sched_port = _free_port(), _free_port()
        self._spawn(
            "kube-controller-manager",
            [
                "kube-controller-manager",
                f"--kubeconfig={cm}",
                f"--authentication-kubeconfig={cm}",
                f"--authorization-kubeconfig={cm}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self._cm_port}",
                f"--cert-dir={self._path('controller-manager-certs')}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The HPA acts within seconds here, not minutes: a test sees it
                # scale up and back down.
                "--horizontal-pod-autoscaler-sync-period=2s",
                "--horizontal-pod-autoscaler-downscale-stabilization=5s",
                "--horizontal-pod-autoscaler-cpu-initialization-period=10s",
                "--horizontal-pod-autoscaler-initial-readiness-delay=5s",
                *self._qps_flags(),
            ],
        )
        sched = str(self._path("scheduler.kubeconfig"))
        self._spawn(
            "kube-scheduler",
            [
                "kube-scheduler",
                f"--kubeconfig={sched}",
                f"--authentication-kubeconfig={sched}",
                f"--authorization-kubeconfig={sched}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self._sched_port}",
                f"--cert-dir={self._path('scheduler-certs')}",
                "--leader-elect=false",
                *self._qps_flags(),
            ],
        )
        key, value = KWOK_NODE_ANNOTATION
        self.kubelet_port = _free_port()
        self._spawn(
            "kwok",
            [
                "kwok",
                f"--kubeconfig={self._path('kwok.kubeconfig')}",
                *(f"--config={p}" for p in sorted(STAGES_DIR.glob("*.yaml"))),
                f"--manage-nodes-with-annotation-selector={key}={value}",
                # kwok renews node Leases, which is what keeps the nodes Ready.
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.1/16",
                # kwok answers for every node's kubelet (logs, /metrics/resource)
                # on one port of 127.0.0.1, the nodes' InternalIP.
                "--node-ip=127.0.0.1",
                f"--node-port={self.kubelet_port}",
                f"--server-address=127.0.0.1:{self.kubelet_port}",
                f"--tls-cert-file={pki / 'kubelet.crt'}",
                f"--tls-private-key-file={pki / 'kubelet.key'}",
                # Tests create these at run time: container logs from files,
                # simulated CPU and memory usage.
                f"--enable-crds={','.join(KWOK_RUNTIME_CRDS)}",
            ],
        )

    def _qps_flags(self) -> list[str]:
        if not self.client_qps:
            return []
        return [f"--kube-api-qps={self.client_qps}", f"--kube-api-burst={2 * self.client_qps}"]

    def _install_objects(self) -> None:
        """Create PriorityClasses, RBAC and the fake nodes (as admin)."""
        scheduling = client.SchedulingV1Api(self.api)
        for name, value in PRIORITY_CLASSES.items():
            scheduling.create_priority_class(
                {
                    "metadata": {"name": name},
                    "value": value,
                    "globalDefault": False,
                    "description": f"mlctl testbed priority {name}",
                }
            )
        client.RbacAuthorizationV1Api(self.api).create_cluster_role(
            {
                "metadata": {"name": POD_READER_ROLE},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
            }
        )
        core = client.CoreV1Api(self.api)
        for node in self.nodes:
            core.create_node(_node_manifest(node))

    def _install_crds(self, deadline: float) -> None:
        """The workloads' CRDs and kwok's own; kwok watches the latter from its start."""
        assert self.builds is not None
        ext = client.ApiextensionsV1Api(self.api)
        kwok_crds = [self.builds.kwok_crds / f"kwok.x-k8s.io_{_plural(kind)}.yaml" for kind in KWOK_RUNTIME_CRDS]
        for path in [*sorted(CRDS_DIR.glob("*.yaml")), *kwok_crds]:
            ext.create_custom_resource_definition(_load_yaml(path))
        self._wait(
            lambda: all(
                any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))
                for crd in ext.list_custom_resource_definition().items
            ),
            deadline,
            "CRDs Established",
        )

    def _wait_ready(self, deadline: float) -> None:
        self._wait(lambda: self._https_ok(self._cm_port), deadline, "kube-controller-manager /healthz")
        self._wait(lambda: self._https_ok(self._sched_port), deadline, "kube-scheduler /healthz")
        self._wait(self._nodes_ready, deadline, "nodes Ready and untainted by the node controller")
        # The ServiceAccount and token controllers work: a new namespace gets
        # its "default" ServiceAccount (pods are refused until it exists).
        core = client.CoreV1Api(self.api)
        probe = f"testbed-probe-{secrets.token_hex(3)}"
        core.create_namespace({"metadata": {"name": probe}})
        self._wait(lambda: self._has_default_sa(probe), deadline, f"default ServiceAccount in new namespace {probe}")
        core.delete_namespace(probe)

    # -- add-ons: metrics-server, the MPI Operator, the Dask operator --------------

    def _start_addons(self) -> None:
        assert self.builds is not None
        self._install_addon_rbac()
        pki = self._path("pki")
        self._metrics_port = _free_port()
        ms = str(self._path("metrics-server.kubeconfig"))
        self._spawn(
            "metrics-server",
            [
                str(self.builds.metrics_server / "metrics-server"),
                f"--kubeconfig={ms}",
                f"--authentication-kubeconfig={ms}",
                f"--authorization-kubeconfig={ms}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self._metrics_port}",
                f"--tls-cert-file={pki / 'metrics-server-serving.crt'}",
                f"--tls-private-key-file={pki / 'metrics-server-serving.key'}",
                # The kubelets are kwok's server at each node's InternalIP
                # (127.0.0.1) and port; its certificate is checked.
                "--kubelet-preferred-address-types=InternalIP",
                "--kubelet-use-node-status-port",
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                "--metric-resolution=10s",  # the shortest it accepts
                "--kubelet-request-timeout=5s",
            ],
        )
        # The aggregator reaches metrics-server through a Service; an
        # ExternalName of 127.0.0.1 keeps that off the machine's resolver.
        core = client.CoreV1Api(self.api)
        core.create_namespaced_service(
            "kube-system",
            {
                "metadata": {"name": METRICS_SERVER_SERVICE},
                "spec": {
                    "type": "ExternalName",
                    "externalName": "127.0.0.1",
                    "ports": [{"name": "https", "port": self._metrics_port, "protocol": "TCP"}],
                },
            },
        )
        client.ApiregistrationV1Api(self.api).create_api_service(
            {
                "metadata": {"name": "v1beta1.metrics.k8s.io"},
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    "caBundle": base64.b64encode(_pem_cert(self._ca.cert)).decode(),
                    "service": {
                        "name": METRICS_SERVER_SERVICE,
                        "namespace": "kube-system",
                        "port": self._metrics_port,
                    },
                },
            }
        )
        # build.sh builds the operator so that its health-check port (fixed
        # at 8080 upstream) comes from the environment: one port per testbed.
        self._spawn(
            "mpi-operator",
            [
                str(self.builds.mpi_operator / "mpi-operator"),
                f"--kubeConfig={self._path('mpi-operator.kubeconfig')}",
                f"--lock-namespace={MPI_OPERATOR_LOCK_NAMESPACE}",
                "--kube-api-qps=50",
                "--kube-api-burst=100",
            ],
            env={"MPI_OPERATOR_HEALTH_PORT": str(_free_port())},
        )
        self._dask_health_port = _free_port()
        venv = self.builds.dask_venv
        self._spawn(
            "dask-operator",
            [
                str(venv / "bin" / "python"),
                str(HERE / "dask_operator.py"),  # kopf, with host names kept off the resolver
                "run",
                "--standalone",  # no peering objects: the only operator here
                "--all-namespaces",
                f"--liveness=http://127.0.0.1:{self._dask_health_port}/healthz",
                "-m",
                "dask_kubernetes.operator.controller",
            ],
            env={
                "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
                "HOME": str(self.workdir),
                "KUBECONFIG": str(self._path("dask-operator.kubeconfig")),
                "MLCTL_DASK_TARGETS": str(self._dask_targets()),
            },
        )

    def _wait_addons(self, deadline: float) -> None:
        registration = client.ApiregistrationV1Api(self.api)
        self._wait(
            lambda: any(
                c.type == "Available" and c.status == "True"
                for c in (registration.read_api_service("v1beta1.metrics.k8s.io").status.conditions or [])
            ),
            deadline,
            "the metrics.k8s.io APIService to be Available (metrics-server)",
        )
        coordination = client.CoordinationV1Api(self.api)
        self._wait(
            lambda: bool(
                coordination.read_namespaced_lease("mpi-operator", MPI_OPERATOR_LOCK_NAMESPACE).spec.holder_identity
            ),
            deadline,
            "the MPI Operator to take its leader lease",
        )
        self._wait(
            lambda: self._http_ok(f"http://127.0.0.1:{self._dask_health_port}/healthz"),
            deadline,
            "the Dask operator's liveness endpoint",
        )

    def _install_addon_rbac(self) -> None:
        rbac = client.RbacAuthorizationV1Api(self.api)
        core = client.CoreV1Api(self.api)
        core.create_namespace({"metadata": {"name": MPI_OPERATOR_LOCK_NAMESPACE}})
        for user, rules in ADDON_RULES.items():
            name = f"mlctl-testbed:{user.split(':')[-1]}"
            rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
            rbac.create_cluster_role_binding(_binding(name, "ClusterRole", name, user))
        # An aggregated API server checks callers with the apiserver (delegated
        # authentication and authorization) and reads the front-proxy CA.
        rbac.create_cluster_role_binding(
            _binding(
                "mlctl-testbed:metrics-server:auth-delegator",
                "ClusterRole",
                "system:auth-delegator",
                METRICS_SERVER_USER,
            )
        )
        rbac.create_namespaced_role_binding(
            "kube-system",
            _binding(
                "mlctl-testbed:metrics-server:auth-reader",
                "Role",
                "extension-apiserver-authentication-reader",
                METRICS_SERVER_USER,
            ),
        )

    # -- what tests do to the simulated nodes ---------------------------------------

    def serve_logs(self, namespace: str) -> Path:
        """Make kwok's kubelet serve the file returned as the log of every container in ``namespace``.

        Append lines with ``append_log``; a follower (``kubectl logs -f``) sees them as they come.
        """
        path = self._path("container-logs") / f"{namespace}.log"
        path.parent.mkdir(exist_ok=True)
        path.touch()
        client.CustomObjectsApi(self.api).create_cluster_custom_object(
            "kwok.x-k8s.io",
            "v1alpha1",
            "clusterlogs",
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": f"logs-{namespace}"},
                "spec": {
                    "selector": {"matchNamespaces": [namespace]},
                    "logs": [{"logsFile": str(path), "follow": True}],
                },
            },
        )
        return path

    @staticmethod
    def append_log(path: Path, *lines: str, stream: str = "stdout") -> None:
        """Append lines to a container log file, in the CRI format a kubelet reads."""
        with path.open("a") as f:
            for line in lines:
                stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                f.write(f"{stamp} {stream} F {line}\n")

    def set_cpu_usage(self, namespace: str, cpu: str, memory: str = "64Mi") -> None:
        """Every container in ``namespace`` uses ``cpu`` (a quantity, e.g. ``"500m"``) from now on."""
        custom = client.CustomObjectsApi(self.api)
        name = f"usage-{namespace}"
        body = {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "ClusterResourceUsage",
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchNamespaces": [namespace]},
                "usages": [{"usage": {"cpu": {"value": cpu}, "memory": {"value": memory}}}],
            },
        }
        try:
            current = custom.get_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterresourceusages", name)
        except ApiException as e:
            if e.status != 404:
                raise
            custom.create_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterresourceusages", body)
            return
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        custom.replace_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterresourceusages", name, body)

    def _dask_targets(self) -> Path:
        folder = self._path("dask-targets")
        folder.mkdir(exist_ok=True)
        return folder

    def set_dask_target(self, namespace: str, cluster: str, workers: int) -> None:
        """What DaskCluster ``cluster``'s scheduler answers when the operator's autoscaler asks
        how many workers it wants (``dask_operator.py`` serves it as a stand-in scheduler)."""
        (self._dask_targets() / f"{namespace}.{cluster}-scheduler").write_text(f"{workers}\n")

    def reclaim_node(self, name: str) -> None:
        """Take a node back as a cloud reclaims a spot instance: a NoExecute taint.

        The taint-eviction controller deletes its pods (which get the
        ``DisruptionTarget`` condition, reason ``DeletionByTaintManager``);
        ``restore_node`` lifts the taint.
        """
        core = client.CoreV1Api(self.api)
        node = core.read_node(name)
        taints = [t.to_dict() for t in (node.spec.taints or []) if t.key != RECLAIM_TAINT["key"]]
        core.patch_node(name, {"spec": {"taints": [*taints, RECLAIM_TAINT]}})

    def restore_node(self, name: str) -> None:
        """Lift ``reclaim_node``'s taint."""
        core = client.CoreV1Api(self.api)
        node = core.read_node(name)
        taints = [t.to_dict() for t in (node.spec.taints or []) if t.key != RECLAIM_TAINT["key"]]
        core.patch_node(name, {"spec": {"taints": taints}})

    # -- readiness checks ---------------------------------------------------------

    def _wait(self, check: Callable[[], bool], deadline: float, what: str) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if check():
                    return
            except Exception as e:  # not up yet: connection refused, 404, ...
                last_error = e
            time.sleep(0.2)
        detail = f" (last error: {last_error})" if last_error else ""
        raise TestbedError(f"timed out waiting for {what}{detail}")

    @staticmethod
    def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _apiserver_ready(self) -> bool:
        pki = self._path("pki")
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return self._http_ok(f"{self.server}/readyz", ctx)

    def _https_ok(self, port: int) -> bool:
        # Self-signed serving certs; only liveness of the component matters here.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return self._http_ok(f"https://127.0.0.1:{port}/healthz", ctx)

    def _nodes_ready(self) -> bool:
        nodes = {n.metadata.name: n for n in client.CoreV1Api(self.api).list_node().items}
        for spec in self.nodes:
            node = nodes.get(spec.name)
            if node is None:
                return False
            conditions = {c.type: c.status for c in (node.status.conditions or [])}
            taints = {t.key for t in (node.spec.taints or [])}
            if conditions.get("Ready") != "True" or "node.kubernetes.io/not-ready" in taints:
                return False
        return True

    def _has_default_sa(self, namespace: str) -> bool:
        sas = client.CoreV1Api(self.api).list_namespaced_service_account(namespace).items
        return any(sa.metadata.name == "default" for sa in sas)

    def _failure_report(self) -> str:
        parts = [f"testbed work dir: {self.workdir}"]
        for c in self._components:
            state = "running" if c.alive() else f"exited {c.popen.returncode}"
            parts.append(f"--- {c.name} ({state}), last lines of {c.log}:\n{_tail(c.log)}")
        if self._own_workdir and not self.keep:
            # The logs are the only clue; keep them when startup fails.
            self.keep = True
        return "\n".join(parts)


def _plural(kind: str) -> str:
    """kwok's CRD file names use the lower-case plural: ``ClusterLogs`` -> ``clusterlogs``."""
    lower = kind.lower()
    return lower if lower.endswith("s") else f"{lower}s"


def _binding(name: str, role_kind: str, role: str, user: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def _load_yaml(path: Path) -> Any:
    # The CRDs are large; the C loader parses them in a fraction of the time.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as f:
        return yaml.load(f, Loader=loader)


def _node_manifest(node: NodeSpec) -> dict[str, Any]:
    key, value = KWOK_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            # metrics-server reads the node's resource metrics where kwok serves them.
            "annotations": {
                key: value,
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{node.name}/metrics/resource",
            },
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "mlctl.test/pool": node.pool,
                **node.labels,
            },
        },
        "spec": {"taints": list(node.taints)},
        # A node may be created with its status; kwok keeps these values.
        "status": {"capacity": dict(node.capacity), "allocatable": dict(node.capacity)},
    }
