"""The transport's pure parts: proxies, credentials, exec plugins, TLS material; no network."""

from __future__ import annotations

import datetime
import json
import ssl
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlctl import errors
from mlctl.cluster import transport
from mlctl.cluster.kubeconfig import Target


@pytest.mark.parametrize(
    ("server", "proxy_url", "environ", "expected"),
    [
        ("https://k.example", "http://explicit:3128", {"HTTPS_PROXY": "http://env:1"}, "http://explicit:3128"),
        ("https://k.example", "", {"HTTPS_PROXY": "http://env:1"}, "http://env:1"),
        ("https://k.example", "", {"https_proxy": "http://lower:1"}, "http://lower:1"),
        ("http://k.example", "", {"HTTPS_PROXY": "http://env:1"}, ""),
        ("https://127.0.0.1:6443", "", {"HTTPS_PROXY": "http://env:1"}, ""),
        ("https://[::1]:6443", "", {"HTTPS_PROXY": "http://env:1"}, ""),
        ("https://localhost:6443", "", {"HTTPS_PROXY": "http://env:1"}, ""),
        ("https://api.corp.example", "", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "corp.example"}, ""),
        ("https://api.corp.example", "", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".corp.example"}, ""),
        ("https://corp.example.org", "", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "corp.example"}, "http://p:1"),
        ("https://10.1.2.3", "", {"HTTPS_PROXY": "http://p:1", "no_proxy": "10.0.0.0/8"}, ""),
        ("https://k.example:6443", "", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "k.example:443"}, "http://p:1"),
        ("https://k.example:6443", "", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "k.example:6443"}, ""),
        ("https://k.example", "", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, ""),
    ],
)
def test_the_proxy_is_chosen_as_kubectl_chooses_it(
    server: str, proxy_url: str, environ: dict[str, str], expected: str
) -> None:
    assert transport.proxy_for(server, proxy_url, environ) == expected


def credentials_of(**fields: Any) -> tuple[dict[str, str], tuple[str, str] | None, float]:
    return transport._credentials(Target(server="https://k", **fields))()


def test_static_credentials_and_impersonation_become_headers() -> None:
    headers, cert, until = credentials_of(token="t0k", impersonate="jane", impersonate_groups=("a", "b"))
    assert headers == {"Authorization": "Bearer t0k", "Impersonate-User": "jane", "Impersonate-Group": "a,b"}
    assert (cert, until) == (None, float("inf"))
    basic, _, _ = credentials_of(username="ann", password="pw")
    assert basic == {"Authorization": "Basic YW5uOnB3"}


def test_a_token_file_is_read_again_after_a_minute(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    headers, _, until = credentials_of(token_file=str(token))
    assert headers["Authorization"] == "Bearer first"
    assert until == pytest.approx(time.monotonic() + transport.TOKEN_FILE_TTL, abs=5)
    token.unlink()
    with pytest.raises(errors.Unauthorized, match="cannot read the token file"):
        credentials_of(token_file=str(token))


def plugin(tmp_path: Path, status: dict[str, Any] | str, code: int = 0) -> Path:
    """An exec credential plugin that records what it was given and prints ``status``."""
    script = tmp_path / "plugin"
    printed = status if isinstance(status, str) else json.dumps({"kind": "ExecCredential", "status": status})
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"open({str(tmp_path / 'seen.json')!r}, 'w').write(json.dumps("
        "{'info': json.loads(os.environ['KUBERNETES_EXEC_INFO']), 'args': sys.argv[1:], "
        "'extra': os.environ.get('EXTRA')}))\n"
        f"print({printed!r})\n"
        f"sys.exit({code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_an_exec_plugin_gets_its_args_env_and_cluster_and_gives_a_token(tmp_path: Path) -> None:
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    command = plugin(tmp_path, {"token": "from-plugin", "expirationTimestamp": later})
    exec_config = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": str(command),
        "args": ["get-token", "--cluster", "c1"],
        "env": [{"name": "EXTRA", "value": "1"}],
        "provideClusterInfo": True,
    }
    target = Target(server="https://k", exec=exec_config, ca_pem="PEM", impersonate="jane")

    headers, cert, until = transport._credentials(target)()

    assert headers == {"Authorization": "Bearer from-plugin", "Impersonate-User": "jane"}
    assert cert is None
    assert 500 < until - time.monotonic() <= 600
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["args"] == ["get-token", "--cluster", "c1"]
    assert seen["extra"] == "1"
    assert seen["info"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert seen["info"]["spec"]["interactive"] is False  # stdin is not a terminal under pytest
    assert seen["info"]["spec"]["cluster"]["server"] == "https://k"


def test_an_exec_plugin_may_give_a_client_certificate(tmp_path: Path) -> None:
    command = plugin(tmp_path, {"clientCertificateData": "CERT", "clientKeyData": "KEY"})
    headers, cert, until = transport._credentials(Target(server="https://k", exec={"command": str(command)}))()
    assert (headers, cert, until) == ({}, ("CERT", "KEY"), float("inf"))


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        ({"token": "x"}, 3, r"failed \(exit 3\)"),
        ("not json", 0, "did not print an ExecCredential"),
        ({}, 0, "neither a token nor a certificate"),
        ({"token": "x", "expirationTimestamp": "soon"}, 0, "bad expirationTimestamp"),
    ],
)
def test_a_failing_exec_plugin_is_a_clear_error(tmp_path: Path, status: Any, code: int, message: str) -> None:
    command = plugin(tmp_path, status, code)
    with pytest.raises(errors.Unauthorized, match=message):
        transport.run_plugin({"command": str(command)}, Target(server="https://k"))


def test_a_missing_exec_plugin_gives_its_install_hint() -> None:
    exec_config = {"command": "no-such-plugin-anywhere", "installHint": "Install it with: make plugin"}
    with pytest.raises(errors.Unauthorized, match=r"no-such-plugin-anywhere.*Install it with: make plugin"):
        transport.run_plugin(exec_config, Target(server="https://k"))


def test_the_transport_asks_for_credentials_again_when_they_expire_or_are_refused() -> None:
    calls: list[int] = []
    pools: list[Any] = []

    class Pool:
        def clear(self) -> None:
            pass

    def credentials() -> tuple[dict[str, str], tuple[str, str] | None, float]:
        calls.append(1)
        cert = ("C", "K") if len(calls) > 2 else None
        return {"Authorization": f"Bearer {len(calls)}"}, cert, time.monotonic() + (60 if len(calls) < 3 else -1)

    def make_pool(cert: tuple[str, str] | None) -> Any:
        pools.append(cert)
        return Pool()

    link = transport.Transport("https://k", make_pool, credentials)
    _, headers, generation = link.current()
    assert headers == {"Authorization": "Bearer 1"}
    assert link.current()[1:] == (headers, generation)  # still valid: not asked again
    # two requests refused at once: the credentials are fetched once
    link.refresh(generation)
    link.refresh(generation)
    _, headers, generation = link.current()
    assert (headers, len(calls)) == ({"Authorization": "Bearer 2"}, 2)
    assert pools == [None]  # the same certificate: the pool is kept
    link.refresh(generation)
    assert pools == [None, ("C", "K")]  # a new client certificate: a new pool
    link.current()  # that credential has expired already: fetched again
    assert len(calls) == 4


def certificate_pair() -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_tls_trusts_the_kubeconfig_ca_and_presents_an_inline_client_certificate(tmp_path: Path) -> None:
    cert_pem, key_pem = certificate_pair()
    target = Target(server="https://k", ca_pem=cert_pem, cert_pem=cert_pem, key_pem=key_pem)

    context = transport.tls_context(target)

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "client"),),)]
    # from files too
    (tmp_path / "c.crt").write_text(cert_pem)
    (tmp_path / "c.key").write_text(key_pem)
    from_files = Target(server="https://k", cert_file=str(tmp_path / "c.crt"), key_file=str(tmp_path / "c.key"))
    transport.tls_context(from_files)


def test_insecure_skip_tls_verify_turns_verification_off() -> None:
    context = transport.tls_context(Target(server="https://k", insecure=True))
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ca_pem": "not a certificate"}, "certificate authority"),
        ({"ca_file": "/no/such/ca.crt"}, "certificate authority of dev: /no/such/ca.crt: No such file"),
        ({"cert_pem": "junk", "key_pem": "junk"}, "client certificate"),
        ({"cert_file": "/no/such/client.crt", "key_file": "/no/such/client.key"}, "/no/such/client.crt"),
        ({"cert_pem": "inline", "key_file": "/no/such/client.key"}, "/no/such/client.key"),
    ],
)
def test_bad_tls_material_is_a_clear_error(fields: dict[str, str], message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        transport.tls_context(Target(server="https://k", context="dev", **fields))


def test_auth_providers_and_socks_proxies_go_through_the_official_client() -> None:
    assert transport.needs_official_client(Target(server="https://k", auth_provider={"name": "oidc"}))
    assert transport.needs_official_client(Target(server="https://k", proxy_url="socks5://p:1080"))
    assert not transport.needs_official_client(Target(server="https://k", proxy_url="http://p:3128"))
