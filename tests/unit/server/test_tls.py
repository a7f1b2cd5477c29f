"""create_ssl_context: real TLS handshakes over loopback with trustme certificates, and each error."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from supervisor.errors import StartupError
from supervisor.server.tls import create_ssl_context

HANDSHAKE_TIMEOUT_S = 10
KEY_PASSWORD = "s3cret"  # noqa: S105 -- a throwaway test key's password


@dataclass(frozen=True)
class Settings:
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_keyfile_password: str | None = None
    ssl_version: int = ssl.PROTOCOL_TLS_SERVER
    ssl_cert_reqs: int = ssl.CERT_NONE
    ssl_ca_certs: str | None = None
    ssl_ciphers: str | None = None


@dataclass(frozen=True)
class Pki:
    ca: trustme.CA
    cert: str
    key: str
    combined: str
    encrypted_key: str
    ca_pem: str
    client: trustme.LeafCert
    stranger_key: str
    tmp: Path

    def settings(self, **overrides: object) -> Settings:
        return replace(Settings(ssl_certfile=self.cert, ssl_keyfile=self.key), **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, combined = tmp / "cert.pem", tmp / "key.pem", tmp / "combined.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(combined))
    private_key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = tmp / "encrypted.pem"
    encrypted.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    ca_pem = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    stranger_key = tmp / "stranger.pem"
    ca.issue_cert("stranger.example").private_key_pem.write_to_path(str(stranger_key))
    return Pki(
        ca=ca,
        cert=str(cert),
        key=str(key),
        combined=str(combined),
        encrypted_key=str(encrypted),
        ca_pem=str(ca_pem),
        client=ca.issue_cert("client@example.com"),
        stranger_key=str(stranger_key),
        tmp=tmp,
    )


def client_context(pki: Pki, *, with_certificate: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    pki.ca.configure_trust(context)
    if with_certificate:
        pki.client.configure_cert(context)
    return context


def exchange(server_context: ssl.SSLContext, client: ssl.SSLContext) -> tuple[bytes, BaseException | None]:
    """Handshake over loopback, send "ping", return (the reply, the server side's error if any)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(HANDSHAKE_TIMEOUT_S)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(HANDSHAKE_TIMEOUT_S)
            with server_context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"pong:" + tls.recv(4))
        except (OSError, ssl.SSLError) as exc:
            failure.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    reply = b""
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=HANDSHAKE_TIMEOUT_S) as raw,
            client.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"ping")
            reply = tls.recv(100)
    except (OSError, ssl.SSLError):
        pass  # the server side's error is what the tests look at
    finally:
        thread.join(HANDSHAKE_TIMEOUT_S)
        listener.close()
    assert not thread.is_alive()
    return reply, (failure[0] if failure else None)


def refusal(settings: Settings) -> str:
    """The StartupError message create_ssl_context gives for these settings."""
    with pytest.raises(StartupError) as info:
        create_ssl_context(settings)
    assert info.value.exit_code == 3
    return str(info.value)


def context_for(settings: Settings) -> ssl.SSLContext:
    context = create_ssl_context(settings)
    assert context is not None
    return context


# -- serving ----------------------------------------------------------------------------------


def test_no_certfile_means_plain_http() -> None:
    assert create_ssl_context(Settings()) is None


def test_handshake_with_cert_and_key(pki: Pki) -> None:
    context = context_for(pki.settings())
    assert context.verify_mode == ssl.CERT_NONE
    assert exchange(context, client_context(pki)) == (b"pong:ping", None)


def test_key_inside_the_certfile(pki: Pki) -> None:
    context = context_for(Settings(ssl_certfile=pki.combined))
    assert exchange(context, client_context(pki)) == (b"pong:ping", None)


def test_encrypted_key_with_its_password(pki: Pki) -> None:
    context = context_for(pki.settings(ssl_keyfile=pki.encrypted_key, ssl_keyfile_password=KEY_PASSWORD))
    assert exchange(context, client_context(pki)) == (b"pong:ping", None)


def test_ciphers_are_applied(pki: Pki) -> None:
    context = context_for(pki.settings(ssl_ciphers="ECDHE+AESGCM"))
    tls12_names = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12_names
    assert all(name.startswith("ECDHE-") and "GCM" in name for name in tls12_names)
    assert exchange(context, client_context(pki)) == (b"pong:ping", None)


def test_old_protocol_tls_default_is_read_as_tls_server(pki: Pki) -> None:
    context = context_for(pki.settings(ssl_version=ssl.PROTOCOL_TLS))  # no DeprecationWarning: warnings are errors here
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER


def test_client_certificates_required(pki: Pki) -> None:
    context = context_for(pki.settings(ssl_cert_reqs=ssl.CERT_REQUIRED, ssl_ca_certs=pki.ca_pem))
    assert exchange(context, client_context(pki, with_certificate=True)) == (b"pong:ping", None)
    reply, error = exchange(context, client_context(pki))
    assert reply == b""
    assert isinstance(error, ssl.SSLError)


def test_client_certificates_optional(pki: Pki) -> None:
    context = context_for(pki.settings(ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=pki.ca_pem))
    assert context.verify_mode == ssl.CERT_OPTIONAL
    assert exchange(context, client_context(pki)) == (b"pong:ping", None)


def test_ca_certs_may_be_a_directory(pki: Pki) -> None:
    context = context_for(pki.settings(ssl_cert_reqs=ssl.CERT_OPTIONAL, ssl_ca_certs=str(pki.tmp)))
    assert context.verify_mode == ssl.CERT_OPTIONAL


# -- errors -----------------------------------------------------------------------------------


def test_keyfile_without_certfile(pki: Pki) -> None:
    with pytest.raises(StartupError, match="ssl_keyfile is set but ssl_certfile is not"):
        create_ssl_context(Settings(ssl_keyfile=pki.key))


@pytest.mark.parametrize("setting", ["ssl_certfile", "ssl_keyfile", "ssl_ca_certs"])
def test_missing_file_is_named(pki: Pki, setting: str) -> None:
    missing = str(pki.tmp / "missing.pem")
    assert refusal(pki.settings(**{setting: missing})) == f"{setting}: {missing}: no such file or directory"


def test_certfile_without_a_certificate(pki: Pki) -> None:
    assert refusal(pki.settings(ssl_certfile=pki.key)) == f"ssl_certfile: {pki.key}: no PEM certificate found"


def test_key_that_does_not_match(pki: Pki) -> None:
    assert (
        refusal(pki.settings(ssl_keyfile=pki.stranger_key))
        == f"ssl_keyfile: {pki.stranger_key}: the key does not match the certificate in {pki.cert}"
    )


def test_keyfile_without_a_key(pki: Pki) -> None:
    assert refusal(pki.settings(ssl_keyfile=pki.ca_pem)) == f"ssl_keyfile: {pki.ca_pem}: no PEM private key found"


def test_certfile_alone_without_a_key(pki: Pki) -> None:
    assert refusal(Settings(ssl_certfile=pki.cert)) == f"ssl_keyfile: {pki.cert}: no PEM private key found"


def test_corrupt_key(pki: Pki) -> None:
    corrupt = pki.tmp / "corrupt.pem"
    corrupt.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    message = refusal(pki.settings(ssl_keyfile=str(corrupt)))
    assert message.startswith(f"ssl_keyfile: {corrupt}: cannot load the private key (")


def test_encrypted_key_without_password_does_not_prompt(pki: Pki) -> None:
    assert (
        refusal(pki.settings(ssl_keyfile=pki.encrypted_key))
        == f"ssl_keyfile: {pki.encrypted_key}: the key is encrypted; set ssl_keyfile_password"
    )


def test_encrypted_key_with_the_wrong_password(pki: Pki) -> None:
    settings = pki.settings(ssl_keyfile=pki.encrypted_key, ssl_keyfile_password=KEY_PASSWORD + "?")
    assert refusal(settings) == (
        f"ssl_keyfile: {pki.encrypted_key}: cannot decrypt the key with ssl_keyfile_password (wrong password?)"
    )


def test_unsupported_protocol_version(pki: Pki) -> None:
    assert refusal(pki.settings(ssl_version=99)) == "ssl_version: 99 is not a protocol this OpenSSL supports"


def test_invalid_cert_reqs(pki: Pki) -> None:
    assert (
        refusal(pki.settings(ssl_cert_reqs=7))
        == "ssl_cert_reqs: expected 0 (none), 1 (optional) or 2 (required), got 7"
    )


def test_required_client_certificates_need_ca_certs(pki: Pki) -> None:
    with pytest.raises(StartupError, match="ssl_ca_certs must name the CAs to trust"):
        create_ssl_context(pki.settings(ssl_cert_reqs=ssl.CERT_REQUIRED))


def test_ca_certs_without_certificates(pki: Pki) -> None:
    assert refusal(pki.settings(ssl_ca_certs=pki.key)) == f"ssl_ca_certs: {pki.key}: no PEM certificate found"


def test_unknown_ciphers(pki: Pki) -> None:
    assert refusal(pki.settings(ssl_ciphers="NOT-A-CIPHER")) == 'ssl_ciphers: "NOT-A-CIPHER": no cipher can be selected'
