"""The secure Kafka listener's secrets: passwords, a local CA and the broker's certificate.

Generated at the first ``make up`` (SECURE=1, the default) into ``.stack/secrets/`` (mode 0700), never
committed (``.stack/`` is ignored):

- ``kafka-secure.json`` (0600): the SCRAM passwords of ``admin``, ``writer`` and ``reader`` and the
  keystore passwords. The only place these exist, besides the broker's own SCRAM store (salted hashes)
  and the generated broker config (0600).
- ``tls/ca.p12`` (the CA's key), ``tls/broker.p12`` (the broker's key and certificate, signed by the CA,
  for ``localhost`` / ``127.0.0.1``), ``tls/ca.pem`` (the CA certificate clients trust).
- ``tls/writer-mtls.pem`` and ``tls/writer-mtls.key`` (0600): the mTLS listener's client certificate
  (``CN=writer-mtls``, client auth only, signed by the CA) and its PKCS#8 key, encrypted with
  ``mtls_key_password`` from the secrets file.

keytool and openssl get every password through their environment (``-storepass:env``, ``-passout env:``), never
on their command line.

The principals are Airflow connections (conn type kafka, ``extra`` a confluent-kafka config), built here from the
secrets file and served by devstack/secrets_backend.py: ``kafka_secure_admin`` / ``_writer`` / ``_reader`` (SCRAM
over SASL_SSL) and ``kafka_mtls_writer`` (the client certificate over SSL).
Standard library only, like the engine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack import nodes
from include.config import MTLS_WRITER_CONN_ID, SECURE_ADMIN_CONN_ID, SECURE_READER_CONN_ID, SECURE_WRITER_CONN_ID

USERS = ("admin", "writer", "reader")
SCRAM_MECHANISM = "SCRAM-SHA-512"  # kafka-server-secure.properties enables this one
SECRETS_FILE_NAME = "kafka-secure.json"
CERT_VALIDITY_DAYS = 825
SAN = "SAN=dns:localhost,ip:127.0.0.1"
MTLS_USER = "writer-mtls"  # the client certificate's CN, which the broker's mapping rule makes User:writer-mtls


class SecureSetupError(RuntimeError):
    """Generating the secure listener's secrets failed; the message says what."""


def secrets_dir(stack_dir: Path) -> Path:
    return stack_dir / "secrets"


def secrets_file(stack_dir: Path) -> Path:
    return secrets_dir(stack_dir) / SECRETS_FILE_NAME


def tls_dir(stack_dir: Path) -> Path:
    return secrets_dir(stack_dir) / "tls"


def ca_pem(stack_dir: Path) -> Path:
    return tls_dir(stack_dir) / "ca.pem"


def broker_keystore(stack_dir: Path) -> Path:
    return tls_dir(stack_dir) / "broker.p12"


def client_certificate(stack_dir: Path) -> Path:
    return tls_dir(stack_dir) / f"{MTLS_USER}.pem"


def client_key(stack_dir: Path) -> Path:
    return tls_dir(stack_dir) / f"{MTLS_USER}.key"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, from the first byte (no window at 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


@contextmanager
def generation_lock(stack_dir: Path) -> Iterator[None]:
    """One process at a time generates secrets and certificates (two `make up` at once must not mix keys),
    with a umask that keeps every file it creates private."""
    folder = secrets_dir(stack_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    old_umask = os.umask(0o077)
    try:
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
    finally:
        os.umask(old_umask)


def ensure_all(stack_dir: Path) -> dict:
    """Secrets and certificates, generated once (under a lock); returns the secrets."""
    with generation_lock(stack_dir):
        data = ensure_secrets(stack_dir)
        ensure_certificates(stack_dir, data)
        ensure_client_certificate(stack_dir, data)
    return data


def load_secrets(stack_dir: Path) -> dict:
    """The secrets file's content; a clear error when it is missing (the secure stack never started here)."""
    path = secrets_file(stack_dir)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SecureSetupError(f"no Kafka secrets at {path}: start the stack with 'make up' (SECURE=1)") from None


def ensure_secrets(stack_dir: Path) -> dict:
    """Load the secrets, generating any that are missing (first start). Idempotent; never rotates."""
    folder = secrets_dir(stack_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    path = secrets_file(stack_dir)
    data = json.loads(path.read_text()) if path.is_file() else {}
    changed = False
    users = data.setdefault("users", {})
    for user in USERS:
        if not users.get(user):
            users[user] = secrets.token_urlsafe(24)
            changed = True
    for key in ("keystore_password", "ca_password", "mtls_key_password"):
        if not data.get(key):
            data[key] = secrets.token_urlsafe(24)
            changed = True
    if changed or (path.stat().st_mode & 0o077):
        write_private(path, json.dumps(data, indent=2) + "\n")
    return data


def _openssl(args: list[str], env_passwords: dict[str, str], stdin: str | None = None) -> str:
    """Runs openssl; its standard output (a key it generated stays in memory, never in an error message)."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise SecureSetupError("openssl not found: install it (make setup)")
    env = {**os.environ, **env_passwords}
    proc = subprocess.run([openssl, *args], input=stdin, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SecureSetupError(f"openssl {args[0]} failed:\n{proc.stderr}")
    return proc.stdout


def _keytool(args: list[str], env_passwords: dict[str, str]) -> None:
    keytool = shutil.which("keytool")
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "keytool").is_file():
        keytool = str(Path(java_home) / "bin" / "keytool")
    if not keytool:
        raise SecureSetupError("keytool not found: install a JDK 17 (make setup) or set JAVA_HOME")
    env = {**os.environ, **env_passwords}
    proc = subprocess.run([keytool, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SecureSetupError(f"keytool {args[0]} failed:\n{proc.stdout}{proc.stderr}")


def ensure_certificates(stack_dir: Path, data: dict) -> None:
    """A local CA and a broker certificate for localhost signed by it, created once: built in a temporary
    folder, which becomes ``tls/`` only when complete."""
    final = tls_dir(stack_dir)
    # the keystores are bound to the passwords in the secrets file: new passwords (rotation), new keystores
    stamp = hashlib.sha256(f"{data['ca_password']}\0{data['keystore_password']}".encode()).hexdigest()
    if (final / ".complete").is_file() and (final / ".complete").read_text().strip() == stamp:
        return
    tls = final.with_name(f"tls.tmp-{os.getpid()}")
    shutil.rmtree(tls, ignore_errors=True)
    tls.mkdir(parents=True, mode=0o700)
    ca, broker = tls / "ca.p12", tls / "broker.p12"
    csr, crt, pem = tls / "broker.csr", tls / "broker.crt", tls / "ca.pem"
    env = {"KSA_CA_PASS": data["ca_password"], "KSA_KS_PASS": data["keystore_password"]}
    ca_store = ["-storetype", "PKCS12", "-keystore", str(ca), "-storepass:env", "KSA_CA_PASS"]
    broker_store = ["-storetype", "PKCS12", "-keystore", str(broker), "-storepass:env", "KSA_KS_PASS"]
    key = ["-keyalg", "RSA", "-keysize", "2048", "-validity", str(CERT_VALIDITY_DAYS)]
    steps = [
        ["-genkeypair", "-alias", "ca", "-dname", "CN=kafka-spark-airflow local CA", "-ext", "bc:c", *key, *ca_store],
        ["-exportcert", "-rfc", "-alias", "ca", "-file", str(pem), *ca_store],
        ["-genkeypair", "-alias", "broker", "-dname", "CN=localhost", "-ext", SAN, *key, *broker_store],
        ["-certreq", "-alias", "broker", "-file", str(csr), *broker_store],
        [
            *["-gencert", "-rfc", "-alias", "ca", "-infile", str(csr), "-outfile", str(crt), "-ext", SAN],
            *["-ext", "ku:c=digitalSignature,keyEncipherment", "-ext", "eku=serverAuth"],
            *["-validity", str(CERT_VALIDITY_DAYS), *ca_store],
        ],
        ["-importcert", "-noprompt", "-alias", "ca", "-file", str(pem), *broker_store],
        ["-importcert", "-noprompt", "-alias", "broker", "-file", str(crt), *broker_store],
    ]
    for step in steps:
        _keytool(step, env)
    csr.unlink()
    for path in (ca, broker, crt):
        os.chmod(path, 0o600)
    os.chmod(pem, 0o644)  # the CA certificate is public; the folder (0700) still keeps other users out
    (tls / ".complete").write_text(stamp + "\n")
    if final.exists():  # an incomplete one (an interrupted first start), or made for other passwords
        shutil.rmtree(final)
    os.replace(tls, final)


def ensure_client_certificate(stack_dir: Path, data: dict) -> None:
    """The mTLS client's key (PKCS#8, encrypted as both librdkafka and Java read it) and certificate
    (``CN=writer-mtls``, client auth, signed by the local CA), created once per CA and key password: openssl
    makes the key and its request, keytool signs it with the CA's key; both get passwords from the environment."""
    tls = tls_dir(stack_dir)
    stamp_file = tls / f".{MTLS_USER}.complete"
    ca_stamp = (tls / ".complete").read_text().strip()
    stamp = hashlib.sha256(f"{ca_stamp}\0{data['mtls_key_password']}\0pbes1".encode()).hexdigest()
    if stamp_file.is_file() and stamp_file.read_text().strip() == stamp:
        return
    tmp = {name: tls / f".{MTLS_USER}.{name}.tmp-{os.getpid()}" for name in ("key", "csr", "crt")}
    env = {"KSA_CA_PASS": data["ca_password"], "KSA_MTLS_PASS": data["mtls_key_password"]}
    try:
        # Encrypted with a PKCS#12 PBE scheme (PBES1): Java's PEM keystore (Kafka 4.1 on JDK 17) can't read
        # openssl's default, PBES2 ("PBES2 SecretKeyFactory not available"); librdkafka reads both. The plain
        # key exists only in this process's memory, between the two commands.
        plain = _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], env)
        _openssl(
            [
                *["pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-passout", "env:KSA_MTLS_PASS"],
                *["-out", str(tmp["key"])],
            ],
            env,
            stdin=plain,
        )
        _openssl(
            [
                *["req", "-new", "-key", str(tmp["key"]), "-passin", "env:KSA_MTLS_PASS"],
                *["-subj", f"/CN={MTLS_USER}", "-out", str(tmp["csr"])],
            ],
            env,
        )
        ca_store = ["-storetype", "PKCS12", "-keystore", str(tls / "ca.p12"), "-storepass:env", "KSA_CA_PASS"]
        _keytool(
            [
                *["-gencert", "-rfc", "-alias", "ca", "-infile", str(tmp["csr"]), "-outfile", str(tmp["crt"])],
                *["-ext", "ku:c=digitalSignature", "-ext", "eku=clientAuth"],
                *["-validity", str(CERT_VALIDITY_DAYS), *ca_store],
            ],
            env,
        )
        if "-----BEGIN ENCRYPTED PRIVATE KEY-----" not in tmp["key"].read_text():
            raise SecureSetupError(f"openssl wrote {MTLS_USER}'s key in another format than encrypted PKCS#8")
        for path in (tmp["key"], tmp["crt"]):
            os.chmod(path, 0o600)
        os.replace(tmp["key"], client_key(stack_dir))
        os.replace(tmp["crt"], client_certificate(stack_dir))
        stamp_file.write_text(stamp + "\n")
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)


# -------------------------------------------------------------- the principals as Airflow connections

ADMIN_CONN_ID = SECURE_ADMIN_CONN_ID
WRITER_CONN_ID = SECURE_WRITER_CONN_ID
READER_CONN_ID = SECURE_READER_CONN_ID
SECURE_CONNECTIONS = {ADMIN_CONN_ID: "admin", WRITER_CONN_ID: "writer", READER_CONN_ID: "reader"}
MTLS_CONNECTIONS = {MTLS_WRITER_CONN_ID: MTLS_USER}
LOCAL_CONNECTIONS = {**SECURE_CONNECTIONS, **MTLS_CONNECTIONS}  # every connection the local backend serves


def secure_bootstrap() -> str:
    return f"localhost:{nodes.kafka_secure_port()}"


def mtls_bootstrap() -> str:
    return f"localhost:{nodes.kafka_mtls_port()}"


def client_config(username: str, password: str, ca_location: str | Path, bootstrap: str) -> dict[str, str]:
    """confluent-kafka configuration of one SCRAM principal on a SASL_SSL listener."""
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": SCRAM_MECHANISM,
        "sasl.username": username,
        "sasl.password": password,
        "ssl.ca.location": str(ca_location),
    }


def mtls_client_config(root: Path, key_password: str, bootstrap: str) -> dict[str, str]:
    """confluent-kafka configuration of the mTLS principal: the client certificate and its encrypted key, by
    path (files in the 0700 secrets folder), the key's password, the CA; host name checked against the broker
    certificate's SAN (localhost)."""
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca_pem(root)),
        "ssl.certificate.location": str(client_certificate(root)),
        "ssl.key.location": str(client_key(root)),
        "ssl.key.password": key_password,
        "ssl.endpoint.identification.algorithm": "https",
    }


def secure_connection(conn_id: str, root: Path | None = None) -> dict | None:
    """The Airflow connection (as a dict) of one of the local secure principals, or None for other ids."""
    if conn_id not in LOCAL_CONNECTIONS:
        return None
    root = root or nodes.stack_dir()
    data = load_secrets(root)
    if conn_id in MTLS_CONNECTIONS:
        extra = mtls_client_config(root, data["mtls_key_password"], mtls_bootstrap())
        return {"conn_type": "kafka", "login": MTLS_CONNECTIONS[conn_id], "extra": extra}
    user = SECURE_CONNECTIONS[conn_id]
    extra = client_config(user, data["users"][user], ca_pem(root), secure_bootstrap())
    return {"conn_type": "kafka", "login": user, "password": data["users"][user], "extra": extra}
