"""Mutual TLS: with a client CA configured, a client without a certificate signed by it is refused."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeshield.gateway.server import TLSFiles, server_config
from tests.gateway.app.conftest import GatewayFactory


def _cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
          *, ca: bool = False) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    pem, key_pem = folder / f"{name}.pem", folder / f"{name}.key"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return pem, key_pem


def test_mutual_tls_requires_a_client_certificate(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    import uvicorn

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test CA", ca_key, None, ca=True)
    ca_pem, _ = _write(tmp_path, "ca", ca, ca_key)
    pairs = {}
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        pairs[name] = _write(tmp_path, name, _cert(name, key, (ca.subject, ca_key)), key)
    _gateway, client = make_gateway()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = server_config(client.app, port=port, log_level="warning",
                           tls=TLSFiles(pairs["server"][0], pairs["server"][1], client_ca=ca_pem))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        url = f"https://localhost:{port}/healthz"
        trust = ssl.create_default_context(cafile=str(ca_pem))
        with pytest.raises(httpx.TransportError):  # no client certificate: the handshake fails
            httpx.get(url, verify=trust, timeout=5).raise_for_status()
        trust.load_cert_chain(*pairs["client"])
        assert httpx.get(url, verify=trust, timeout=5).json() == {"status": "ok"}
    finally:
        server.should_exit = True
        thread.join(10)
