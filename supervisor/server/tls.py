"""Build the server's SSLContext from an app's ssl_* settings, with errors that name the file at fault.

OpenSSL reports most loading failures as "[SSL] PEM lib"; the checks around each call
turn that into which file, which setting, and the likely fix.
"""

from __future__ import annotations

import os
import ssl
from typing import Protocol

from supervisor.errors import StartupError


class TLSSettings(Protocol):
    """The ssl_* settings, with uvicorn's meanings; `AppConfig` provides them."""

    @property
    def ssl_certfile(self) -> str | None: ...

    @property
    def ssl_keyfile(self) -> str | None: ...

    @property
    def ssl_keyfile_password(self) -> str | None: ...

    @property
    def ssl_version(self) -> int: ...

    @property
    def ssl_cert_reqs(self) -> int: ...

    @property
    def ssl_ca_certs(self) -> str | None: ...

    @property
    def ssl_ciphers(self) -> str | None: ...


def create_ssl_context(config: TLSSettings, *, http2: bool = False) -> ssl.SSLContext | None:
    """The context to wrap accepted connections in, or None to serve plain HTTP.

    With `http2`, ALPN offers h2 before http/1.1 (RFC 9113 §3.2); the connection reads the
    client's choice when the handshake is done.

    TLS is on when `ssl_certfile` is set. `ssl_version` PROTOCOL_TLS (uvicorn's old default)
    is read as PROTOCOL_TLS_SERVER, which means the same thing for a server without
    Python's deprecation warning. `ssl_cert_reqs` CERT_REQUIRED needs `ssl_ca_certs` (a
    file or a directory), since no client certificate could be verified without it.

    Raises:
        StartupError: a setting is inconsistent or a file cannot be used; the message names it.
    """
    certfile = config.ssl_certfile
    keyfile = config.ssl_keyfile or None
    if not certfile:
        if keyfile:
            raise StartupError("ssl_keyfile is set but ssl_certfile is not: TLS needs the certificate as well")
        return None
    context = _new_context(config.ssl_version)
    _require_file("ssl_certfile", certfile)
    if keyfile:
        _require_file("ssl_keyfile", keyfile)
    _load_chain(context, certfile, keyfile, config.ssl_keyfile_password or None)
    _set_verification(context, config.ssl_cert_reqs, config.ssl_ca_certs or None)
    if config.ssl_ciphers:
        try:
            context.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError as exc:
            raise StartupError(f'ssl_ciphers: "{config.ssl_ciphers}": no cipher can be selected') from exc
    if http2:
        context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def _new_context(version: int) -> ssl.SSLContext:
    if version == ssl.PROTOCOL_TLS:
        version = ssl.PROTOCOL_TLS_SERVER
    try:
        return ssl.SSLContext(version)
    except ValueError as exc:
        raise StartupError(f"ssl_version: {version} is not a protocol this OpenSSL supports") from exc


def _load_chain(context: ssl.SSLContext, certfile: str, keyfile: str | None, password: str | None) -> None:
    def give_password() -> str:
        # Without a callback OpenSSL would prompt on the terminal, and a worker has none.
        return password or ""

    try:
        context.load_cert_chain(certfile, keyfile, password=give_password)
    except ssl.SSLError as exc:
        raise StartupError(_chain_problem(exc, certfile, keyfile or certfile, password)) from exc


def _chain_problem(exc: ssl.SSLError, certfile: str, keyfile: str, password: str | None) -> str:
    if not _holds_certificate(certfile):
        return f"ssl_certfile: {certfile}: no PEM certificate found"
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"ssl_keyfile: {keyfile}: the key does not match the certificate in {certfile}"
    key_text = _read_text(keyfile)
    if "PRIVATE KEY" not in key_text:
        return f"ssl_keyfile: {keyfile}: no PEM private key found"
    if "ENCRYPTED" in key_text:
        if password is None:
            return f"ssl_keyfile: {keyfile}: the key is encrypted; set ssl_keyfile_password"
        return f"ssl_keyfile: {keyfile}: cannot decrypt the key with ssl_keyfile_password (wrong password?)"
    return f"ssl_keyfile: {keyfile}: cannot load the private key ({exc})"


def _set_verification(context: ssl.SSLContext, cert_reqs: int, ca_certs: str | None) -> None:
    try:
        context.verify_mode = ssl.VerifyMode(cert_reqs)
    except ValueError as exc:
        raise StartupError(
            f"ssl_cert_reqs: expected {int(ssl.CERT_NONE)} (none), {int(ssl.CERT_OPTIONAL)} (optional) "
            f"or {int(ssl.CERT_REQUIRED)} (required), got {cert_reqs}"
        ) from exc
    if ca_certs is None:
        if context.verify_mode == ssl.CERT_REQUIRED:
            raise StartupError("ssl_cert_reqs requires client certificates, so ssl_ca_certs must name the CAs to trust")
        return
    try:
        if os.path.isdir(ca_certs):
            context.load_verify_locations(capath=ca_certs)
        else:
            _require_file("ssl_ca_certs", ca_certs)
            context.load_verify_locations(cafile=ca_certs)
    except ssl.SSLError as exc:
        raise StartupError(f"ssl_ca_certs: {ca_certs}: no PEM certificate found") from exc


def _require_file(setting: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise StartupError(f"{setting}: {path}: {reason}") from exc


def _holds_certificate(path: str) -> bool:
    # A scratch context parses the file for real, where a substring test would not.
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=path)
    except ssl.SSLError:
        return False
    return True


def _read_text(path: str) -> str:
    with open(path, encoding="latin-1") as file:
        return file.read()
