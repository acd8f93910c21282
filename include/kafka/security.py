"""Secured Kafka: who a connection is, its secrets kept out of every log, and how a secret reaches Spark
without a trace.

A connection's ``extra`` is a confluent-kafka configuration. Spark's Kafka connector is a Java client:
``java_client_options`` turns the same settings into Java properties (``sasl.jaas.config``, a PEM truststore,
a PEM keystore for a client certificate), or refuses a setting it can't translate, naming it, when the run's
params are validated (include/plans.py), long before Spark. They travel to the Spark driver in a 0600 file whose
*path* is the only thing on spark-submit's command line (plugins/kafka_spark_submit.py); the job reads it and
sets the options in memory.

The local stack's principals (``kafka_secure_admin`` / ``_writer`` / ``_reader`` on the SASL_SSL listener
``localhost:9093``, ``kafka_mtls_writer`` with a client certificate on the mTLS listener ``localhost:9094``) are
served by the local secrets backend (devstack/secrets_backend.py); a deployment gives the same connection ids
from its own vault.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Keys of a client config whose values are secret (masked in Airflow logs; never on a command line): passwords,
# SASL's JAAS line, and private keys (librdkafka's ssl.key.pem, Java's ssl.keystore.key)
SECRET_KEY = re.compile(r"(?i)password|secret|jaas|token|credential|ssl\.key\.pem|keystore\.key")

JAAS_MODULES = {
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

# Keys in these namespaces are security settings: each is translated for Java or refused by name. Any other key
# (client.id, socket.timeout.ms, ...) tunes the Python clients only (admin, test producer, verifiers): Spark's
# connector gets its bootstrap servers from the plan and its tuning from the jobs, so it is not passed on.
SECURITY_PREFIXES = ("security.", "sasl.", "ssl.", "ssl_", "enable.ssl.", "enable.sasl.", "https.")
# the SSL keys translated below; any other ssl.* key is refused by name
SSL_KEYS = frozenset(
    {
        "ssl.ca.location",
        "ssl.ca.pem",
        "ssl.certificate.location",
        "ssl.certificate.pem",
        "ssl.key.location",
        "ssl.key.pem",
        "ssl.key.password",
        "ssl.keystore.location",
        "ssl.keystore.password",
        "ssl.endpoint.identification.algorithm",
        "enable.ssl.certificate.verification",
    }
)
SASL_KEYS = frozenset({"sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password"})
# librdkafka's value -> Java's (Java disables the host name check with an empty string, not "none")
ENDPOINT_IDENTIFICATION = {"none": "", "": "", "https": "https"}


class UntranslatableKafkaSetting(ValueError):
    """A setting of a Kafka connection that the Java client (Spark's connector) can't be given; names the key."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"Kafka connection setting {key!r} can't be passed to Spark's Java client: {why}")
        self.key = key


def principal(config: dict[str, str]) -> str:
    """Who the broker sees: the SASL user; on SSL with a client certificate, the certificate's subject (the
    broker maps it to a user with its ssl.principal.mapping.rules); otherwise ANONYMOUS."""
    protocol = config.get("security.protocol", "PLAINTEXT").upper()
    if "SASL" in protocol:
        return f"User:{config.get('sasl.username', '?')}"
    if protocol == "SSL" and (config.get("ssl.certificate.location") or config.get("ssl.certificate.pem")):
        return f"the certificate of {certificate_subject(config)}"
    return "User:ANONYMOUS"


def certificate_subject(config: dict[str, str]) -> str:
    """The client certificate's subject (RFC 4514, e.g. ``CN=writer-mtls``), or where it is when unreadable."""
    try:
        from cryptography import x509

        pem = config.get("ssl.certificate.pem") or Path(config["ssl.certificate.location"]).read_text()
        return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()
    except Exception:  # noqa: BLE001 - a name for messages only; translation reports a bad certificate
        return config.get("ssl.certificate.location", "ssl.certificate.pem")


def secret_values(config: dict[str, str]) -> list[str]:
    """The values of ``config`` that must never be logged; a multi-line one (a PEM key) also line by line, since
    a log may show it split."""
    values = [v for k, v in config.items() if SECRET_KEY.search(k) and v]
    lines = [
        line.strip()
        for v in values
        if "\n" in v
        for line in v.splitlines()
        if len(line.strip()) >= 8 and not line.startswith("-----")
    ]
    return values + lines


def mask_config_secrets(config: dict[str, str]) -> None:
    """Register the config's secrets with Airflow's masker (task log, and the supervisor's), when in Airflow."""
    values = secret_values(config)
    if not values:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # outside Airflow (a job, a CLI)
        return
    for value in values:
        mask_secret(value)


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jaas_config(mechanism: str, username: str, password: str) -> str:
    module = JAAS_MODULES.get(mechanism.upper())
    if module is None:
        raise UntranslatableKafkaSetting(
            "sasl.mechanism",
            f"mechanism {mechanism!r} is not supported here (use one of {', '.join(sorted(JAAS_MODULES))}; "
            "GSSAPI and OAUTHBEARER need a JAAS login module and files this translation does not build)",
        )
    return f"{module} required username={_jaas_quote(username)} password={_jaas_quote(password)};"


def _read_pem(config: dict[str, str], key: str) -> str:
    """The PEM text a ``*.location`` key names (read now, on the worker: Spark gets the content, not a path
    its executors may not have), or the ``*.pem`` key's own value."""
    if not key.endswith(".location"):
        return config[key]
    path = Path(config[key])
    if path.is_dir():
        raise UntranslatableKafkaSetting(key, f"{path} is a directory; Java takes one PEM file")
    try:
        return path.read_text()
    except OSError as exc:
        raise UntranslatableKafkaSetting(key, f"can't read {path}: {exc.strerror or exc}") from None


def _one_of(config: dict[str, str], location: str, pem: str) -> str | None:
    """The key among ``location``/``pem`` the config sets (librdkafka takes either, not both)."""
    given = [k for k in (location, pem) if config.get(k)]
    if len(given) == 2:
        raise UntranslatableKafkaSetting(pem, f"set {location} or {pem}, not both")
    return given[0] if given else None


def _truststore(config: dict[str, str]) -> dict[str, str]:
    key = _one_of(config, "ssl.ca.location", "ssl.ca.pem")
    if key is None:
        return {}  # the JVM's default trust store, as librdkafka uses the system's CAs
    if key == "ssl.ca.location" and config[key] == "probe":
        raise UntranslatableKafkaSetting(key, "'probe' (search the system's CA folders) has no Java equivalent")
    pem = _read_pem(config, key)
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise UntranslatableKafkaSetting(key, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return {"ssl.truststore.type": "PEM", "ssl.truststore.certificates": pem}


# DER of the PBES2 object identifier (1.2.840.113549.1.5.13)
PBES2_OID = bytes.fromhex("06092a864886f70d01050d")


def _check_encrypted_key(key_key: str, pem: str, password: str) -> None:
    """An encrypted PKCS#8 key Java can read, and that the password opens (both checked now, not in Spark)."""
    body = pem.split("-----BEGIN ENCRYPTED PRIVATE KEY-----", 1)[1].split("-----END", 1)[0]
    try:
        der = base64.b64decode("".join(body.split()))
    except ValueError:
        raise UntranslatableKafkaSetting(key_key, "the encrypted key is not valid PEM (base64)") from None
    if PBES2_OID in der[:32]:
        raise UntranslatableKafkaSetting(
            key_key,
            "the key is encrypted with PBES2 (openssl's default), which Java's PEM keystore can't read ('PBES2 "
            "SecretKeyFactory not available' on JDK 17); re-encrypt it with a PKCS#12 scheme: openssl pkcs8 -topk8 "
            "-v1 PBE-SHA1-3DES -in <key> -out <key.p8> (passwords through -passin/-passout env:VAR)",
        )
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # Airflow installs it; without it, Java reports a wrong password
        return
    try:
        load_pem_private_key(pem.encode(), password.encode())
    except (ValueError, TypeError) as exc:
        if "password" in str(exc).lower() or "decrypt" in str(exc).lower():
            raise UntranslatableKafkaSetting("ssl.key.password", f"does not decrypt the key of {key_key}") from None
        raise UntranslatableKafkaSetting(key_key, f"the key can't be read: {exc}") from None
    except Exception:  # noqa: BLE001 - a scheme cryptography lacks: Java may still read it
        return


def _keystore(config: dict[str, str]) -> dict[str, str]:
    """The client certificate and key (mTLS): in memory, as Java's PEM keystore takes them."""
    cert_key = _one_of(config, "ssl.certificate.location", "ssl.certificate.pem")
    key_key = _one_of(config, "ssl.key.location", "ssl.key.pem")
    p12 = config.get("ssl.keystore.location")
    if p12:
        if cert_key or key_key:
            raise UntranslatableKafkaSetting("ssl.keystore.location", "set a keystore or a certificate + key, not both")
        if not Path(p12).is_file():
            raise UntranslatableKafkaSetting("ssl.keystore.location", f"{p12} is not a file")
        password = config.get("ssl.keystore.password") or ""
        # librdkafka reads a PKCS#12 file; so does Java, with the same password for the store and its key
        return {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": p12,
            "ssl.keystore.password": password,
            "ssl.key.password": password,
        }
    if config.get("ssl.keystore.password"):
        raise UntranslatableKafkaSetting("ssl.keystore.password", "set without ssl.keystore.location")
    if not cert_key and not key_key:
        if config.get("ssl.key.password"):
            raise UntranslatableKafkaSetting("ssl.key.password", "set without a key (ssl.key.location or ssl.key.pem)")
        return {}
    if not cert_key:
        raise UntranslatableKafkaSetting(key_key, "a client key needs its certificate (ssl.certificate.location/.pem)")
    if not key_key:
        raise UntranslatableKafkaSetting(cert_key, "a client certificate needs its key (ssl.key.location/.pem)")
    chain = _read_pem(config, cert_key)
    if "-----BEGIN CERTIFICATE-----" not in chain:
        raise UntranslatableKafkaSetting(cert_key, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    key = _read_pem(config, key_key)
    out = {"ssl.keystore.type": "PEM", "ssl.keystore.certificate.chain": chain}
    # Java reads PKCS#8 keys only, encrypted or not; librdkafka also reads the older per-algorithm formats
    if "-----BEGIN ENCRYPTED PRIVATE KEY-----" in key:
        if not config.get("ssl.key.password"):
            raise UntranslatableKafkaSetting(key_key, "the key is encrypted and ssl.key.password is not set")
        _check_encrypted_key(key_key, key, config["ssl.key.password"])
        out["ssl.key.password"] = config["ssl.key.password"]
    elif "-----BEGIN PRIVATE KEY-----" not in key:
        raise UntranslatableKafkaSetting(
            key_key,
            "Java reads PKCS#8 keys only (-----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY-----); "
            "convert it: openssl pkcs8 -topk8 -in <key> -out <key.p8> (encrypted; -nocrypt for a plain one)",
        )
    # an unencrypted key with ssl.key.password: OpenSSL ignores the password, and so does this translation
    # (Java would try to decrypt the key with it and fail)
    out["ssl.keystore.key"] = key
    return out


def java_client_options(config: dict[str, str]) -> dict[str, str]:
    """The security part of a confluent-kafka (librdkafka) config as Java client properties (without Spark's
    ``kafka.``), complete and strict: every security key is translated, or refused with an
    ``UntranslatableKafkaSetting`` naming it, before Spark starts (validate_params calls this).

    Files the config names (CA, client certificate and key) are read here: Spark gets their PEM content, in
    memory, never a path. Keys outside the security namespaces (client.id, timeouts, ...) tune the Python
    clients only and are not passed on (``bootstrap.servers`` reaches the job through the plan).
    Empty for a plaintext connection.
    """
    for key in config:
        if key.startswith(SECURITY_PREFIXES) and key not in SSL_KEYS | SASL_KEYS | {"security.protocol"}:
            raise UntranslatableKafkaSetting(key, "no Java equivalent is translated here; remove it or map it by hand")
    protocol = config.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise UntranslatableKafkaSetting("security.protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
    out = {"security.protocol": protocol}
    if "SASL" in protocol:
        mechanism = (config.get("sasl.mechanism") or config.get("sasl.mechanisms") or "GSSAPI").upper()
        if "," in mechanism:
            raise UntranslatableKafkaSetting("sasl.mechanisms", "Java takes one mechanism, not a list")
        if "sasl.username" not in config or "sasl.password" not in config:
            raise UntranslatableKafkaSetting(
                "sasl.mechanism", f"SASL mechanism {mechanism} needs sasl.username and sasl.password in the connection"
            )
        out["sasl.mechanism"] = mechanism
        out["sasl.jaas.config"] = jaas_config(mechanism, config["sasl.username"], config["sasl.password"])
    elif sasl_keys := sorted(k for k in config if k in SASL_KEYS):
        raise UntranslatableKafkaSetting(sasl_keys[0], f"security.protocol {protocol} uses no SASL: remove it")
    if "SSL" in protocol:
        if config.get("enable.ssl.certificate.verification", "true").lower() not in ("true", "1"):
            raise UntranslatableKafkaSetting(
                "enable.ssl.certificate.verification", "Java always verifies the broker's certificate: trust its CA"
            )
        algorithm = config.get("ssl.endpoint.identification.algorithm")
        if algorithm is not None:
            if algorithm.lower() not in ENDPOINT_IDENTIFICATION:
                raise UntranslatableKafkaSetting(
                    "ssl.endpoint.identification.algorithm", f"{algorithm!r} is neither 'https' nor 'none'"
                )
            out["ssl.endpoint.identification.algorithm"] = ENDPOINT_IDENTIFICATION[algorithm.lower()]
        out |= _truststore(config)
        out |= _keystore(config)
    elif ssl_keys := sorted(k for k in config if k in SSL_KEYS):
        raise UntranslatableKafkaSetting(ssl_keys[0], f"security.protocol {protocol} uses no TLS: remove it")
    return {} if out == {"security.protocol": "PLAINTEXT"} else out


def ignored_by_spark(config: dict[str, str]) -> list[str]:
    """The connection's keys Spark does not get (client tuning of the Python clients), for a log line."""
    return sorted(k for k in config if not k.startswith(SECURITY_PREFIXES) and k != "bootstrap.servers")


@contextmanager
def private_client_file(options: dict[str, str]) -> Iterator[Path]:
    """A JSON file of ``options``, readable by this user only, in a 0700 folder; deleted on exit."""
    folder = Path(tempfile.mkdtemp(prefix="kafka-client-"))  # mkdtemp: mode 0700
    path = folder / "kafka-client.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(options, handle)
        yield path
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()
