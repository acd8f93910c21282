"""What a run's params may reach, as whoever deploys the DAGs allows it: local source folders, HDFS roots and
Kafka connections. A run's params never widen it.

The rules are pure functions of (value, ``Policy``): plans.plan_write / plan_read call them in validate_params,
before any topic, HDFS path or message exists. ``load_policy`` reads the policy from Airflow's configuration,
section ``[kafka_spark_airflow]`` (or the environment, ``AIRFLOW__KAFKA_SPARK_AIRFLOW__<KEY>``); every key is a
comma-separated list, and a missing key keeps its safe default:

    allowed_source_dirs   local folders source_csv may come from
                          (default: include/data/ and $AIRFLOW_HOME/landing/)
    denied_source_dirs    local folders refused even inside an allowed one (default: none; the local stack
                          sets its own state folder, which holds its secrets)
    allowed_hdfs_roots    HDFS folders hdfs_dir / output_dir must be under; ``{user}`` is the HDFS user of the
                          webhdfs connection (default: /user/{user})
    write_job_conn_ids    Kafka connections write_to_kafka's Spark job may use (kafka_default, kafka_secure_writer,
                          kafka_mtls_writer)
    write_admin_conn_ids  ... its admin role: topics, verification (kafka_default, kafka_secure_admin)
    read_job_conn_ids     read_from_kafka's Spark job (kafka_default, kafka_secure_reader)
    read_admin_conn_ids   ... its admin role: topics, test messages, verification (kafka_default, kafka_secure_admin)
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from include.config import (
    CHECKPOINT_ROOT,
    DEFAULT_PLAYERS_CSV,
    KAFKA_CONN_ID,
    MTLS_WRITER_CONN_ID,
    SECURE_ADMIN_CONN_ID,
    SECURE_READER_CONN_ID,
    SECURE_WRITER_CONN_ID,
)

SECTION = "kafka_spark_airflow"
LANDING_DIR = "landing"  # under AIRFLOW_HOME: where a team drops files for source_csv by default
ROLES = ("job", "admin")
PARAM_OF_ROLE = {"job": "kafka_conn_id", "admin": "kafka_admin_conn_id"}


class PolicyViolation(ValueError):
    """A param reaches beyond what the deployment allows; the message says what, and how a deployer widens it."""


def default_source_dirs(airflow_home: str) -> tuple[str, ...]:
    return (str(DEFAULT_PLAYERS_CSV.parent), str(Path(airflow_home) / LANDING_DIR))


DEFAULT_HDFS_ROOTS = ("/user/{user}",)
DEFAULT_CONN_IDS = {
    ("write_to_kafka", "job"): (KAFKA_CONN_ID, SECURE_WRITER_CONN_ID, MTLS_WRITER_CONN_ID),
    ("write_to_kafka", "admin"): (KAFKA_CONN_ID, SECURE_ADMIN_CONN_ID),
    ("read_from_kafka", "job"): (KAFKA_CONN_ID, SECURE_READER_CONN_ID),
    ("read_from_kafka", "admin"): (KAFKA_CONN_ID, SECURE_ADMIN_CONN_ID),
}
# the config key of each (dag, role): write_job_conn_ids, read_admin_conn_ids, ...
CONN_KEYS = {(dag, role): f"{dag.split('_')[0]}_{role}_conn_ids" for dag, role in DEFAULT_CONN_IDS}


@dataclass(frozen=True)
class Policy:
    source_dirs: tuple[str, ...]
    hdfs_roots: tuple[str, ...] = DEFAULT_HDFS_ROOTS
    conn_ids: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_CONN_IDS))
    denied_source_dirs: tuple[str, ...] = ()

    @classmethod
    def default(cls, airflow_home: str) -> Policy:
        return cls(source_dirs=default_source_dirs(airflow_home))


def env_var(key: str) -> str:
    """The environment variable Airflow reads for ``[kafka_spark_airflow] <key>``."""
    return f"AIRFLOW__{SECTION.upper()}__{key.upper()}"


def _split(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.replace("\n", ",").split(",") if item.strip())


def airflow_home() -> str:
    """AIRFLOW_HOME as Airflow resolves it."""
    return os.path.expanduser(os.environ.get("AIRFLOW_HOME") or "~/airflow")


def load_policy() -> Policy:
    """The policy from Airflow's configuration (``[kafka_spark_airflow]``), each missing key at its default."""
    from airflow.configuration import conf

    def get(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = conf.get(SECTION, key, fallback=None)
        return default if value is None or not value.strip() else _split(value)

    return Policy(
        source_dirs=get("allowed_source_dirs", default_source_dirs(airflow_home())),
        denied_source_dirs=get("denied_source_dirs", ()),
        hdfs_roots=get("allowed_hdfs_roots", DEFAULT_HDFS_ROOTS),
        conn_ids={key: get(CONN_KEYS[key], default) for key, default in DEFAULT_CONN_IDS.items()},
    )


def allowing_source_dirs(*dirs: str) -> dict[str, str]:
    """``{environment variable: value}`` that allows ``dirs`` as source folders besides the configured ones: for
    a process that ingests files it wrote itself into a temporary folder (the tests, the bench), and for the
    ``airflow dags test`` runs it starts."""
    return {env_var("allowed_source_dirs"): ",".join([*load_policy().source_dirs, *dirs])}


# ---- the rules -------------------------------------------------------------------------------------------


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _widen_hint(key: str) -> str:
    return f"a deployer can widen this with [{SECTION}] {key} (environment: {env_var(key)})"


def check_source_csv(source: object, policy: Policy) -> str:
    """``source_csv`` -> the real path of the file it names, inside an allowed source folder.

    Refused: a relative path, a '..' part, a path that does not exist (symlinks are resolved, strictly), a
    real path outside every allowed folder (a symlink out of one included), one under a denied folder, and a
    hidden file or folder (a name starting with '.') below the allowed folder, where keys and secrets live."""
    if not isinstance(source, str) or not source.strip():
        raise PolicyViolation("source_csv is empty: give the path of a local CSV file (name;age per line)")
    given = os.path.expanduser(source.strip())
    allowed = ", ".join(policy.source_dirs) or "none"
    if not os.path.isabs(given):
        raise PolicyViolation(f"source_csv {source!r} must be an absolute path inside one of: {allowed}")
    if ".." in Path(given).parts:
        raise PolicyViolation(f"source_csv {source!r} has a '..' part: give the file's own path")
    try:
        real = os.path.realpath(given, strict=True)
    except FileNotFoundError:
        raise PolicyViolation(f"source_csv {given!r} does not exist") from None
    except OSError as exc:
        raise PolicyViolation(f"source_csv {given!r} can't be resolved: {exc.strerror or exc}") from None
    roots = []
    for root in policy.source_dirs:
        try:
            roots.append(os.path.realpath(os.path.expanduser(root), strict=True))
        except OSError:
            continue  # a folder that does not exist holds no file
    root = next((r for r in roots if _inside(real, r) and real != r), None)
    moved = "" if real == given else f" (it resolves to {real!r})"
    if root is None:
        raise PolicyViolation(
            f"source_csv {given!r}{moved} is outside the folders files may come from ({allowed}): refused, "
            f"nothing sent. Copy the file into one of them; {_widen_hint('allowed_source_dirs')}"
        )
    for denied in policy.denied_source_dirs:
        if _inside(real, os.path.realpath(os.path.expanduser(denied))):
            raise PolicyViolation(f"source_csv {given!r}{moved} is under {denied!r}, which is denied: refused")
    hidden = [part for part in Path(real).relative_to(root).parts if part.startswith(".")]
    if hidden:
        raise PolicyViolation(
            f"source_csv {given!r}{moved} is or is under a hidden name ({hidden[0]!r}), where keys and secrets "
            "live: refused"
        )
    return real


def check_hdfs_dir(path: str, user: str, what: str, policy: Policy) -> str:
    """An absolute, normalised HDFS directory (plans.resolve_hdfs_dir) strictly under an allowed root, and not
    in the queries' checkpoint folder."""
    roots = [posixpath.normpath(root.replace("{user}", user)) for root in policy.hdfs_roots]
    if not any(_inside(path, root) and path != root for root in roots):
        raise PolicyViolation(
            f"{what} {path!r} is not under an HDFS folder runs may write under ({', '.join(roots) or 'none'}): "
            f"refused. Use a folder below one of them; {_widen_hint('allowed_hdfs_roots')}"
        )
    checkpoints = posixpath.join("/user", user, CHECKPOINT_ROOT)
    if _inside(path, checkpoints):
        raise PolicyViolation(f"{what} {path!r} is in {checkpoints}, which holds the queries' checkpoints: refused")
    return path


def check_conn_ids(dag: str, conn_ids: dict[str, str], policy: Policy) -> dict[str, str]:
    """``{kafka_conn_id, kafka_admin_conn_id}`` of a run of ``dag``: each among the connections its role may use."""
    for role in ROLES:
        param = PARAM_OF_ROLE[role]
        allowed = policy.conn_ids.get((dag, role), ())
        if conn_ids[param] not in allowed:
            raise PolicyViolation(
                f"{param} {conn_ids[param]!r} is not a connection {dag}'s {role} role may use "
                f"(allowed: {', '.join(allowed) or 'none'}): refused; {_widen_hint(CONN_KEYS[(dag, role)])}"
            )
    return conn_ids
