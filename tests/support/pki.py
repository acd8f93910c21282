"""A throwaway CA, a client certificate and its key in every format a Kafka connection may hold, for pure tests
of the Java translation (include/kafka/security.py). Made once per test session in a private temporary folder."""

from __future__ import annotations

import datetime
import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

KEY_PASSWORD = "unit-test-key-password"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, issuer: str, key, signer) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(signer, hashes.SHA256())
    )


class Pki:
    def __init__(self, folder: Path) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("unit CA", "unit CA", ca_key, ca_key)
        cert = _cert("writer-mtls", "unit CA", key, ca_key)
        pem = serialization.Encoding.PEM
        pkcs8 = serialization.PrivateFormat.PKCS8
        password = KEY_PASSWORD.encode()

        plain = key.private_bytes(pem, pkcs8, serialization.NoEncryption())

        def encrypted(*scheme: str) -> bytes:  # openssl, as a user would (cryptography picks its own scheme)
            return subprocess.run(
                ["openssl", "pkcs8", "-topk8", *scheme, "-passout", "env:UNIT_KEY_PASS"],
                input=plain,
                capture_output=True,
                check=True,
                env={**os.environ, "UNIT_KEY_PASS": KEY_PASSWORD},
            ).stdout

        files = {
            "ca.pem": ca.public_bytes(pem),
            "client.pem": cert.public_bytes(pem),
            "key-plain.pem": plain,
            "key-pbes1.pem": encrypted("-v1", "PBE-SHA1-3DES"),
            "key-pbes2.pem": encrypted("-v2", "aes-256-cbc"),
            "key-traditional.pem": key.private_bytes(
                pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            ),
            "client.p12": pkcs12.serialize_key_and_certificates(
                b"client", key, cert, None, serialization.BestAvailableEncryption(password)
            ),
        }
        for name, data in files.items():
            (folder / name).write_bytes(data)
        self.folder = folder

    def file(self, name: str) -> str:
        """The path of one of the files above (``ca.pem``, ``key-pbes1.pem``, ``client.p12``...)."""
        path = self.folder / name
        assert path.is_file(), name
        return str(path)

    @staticmethod
    @cache
    def shared() -> Pki:
        return Pki(Path(tempfile.mkdtemp(prefix="unit-pki-")))
