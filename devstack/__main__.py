"""The local stack's one command line (the Makefile's verbs call it). The profile: --profile NAME, else $PROFILE,
else single.

    python -m devstack up|down|status|reset [service|group ...]   the stack (status exits 3 when a node is down)
    python -m devstack restart <service> [...]                    graceful restart, one after the other
    python -m devstack jars [--force]                             the jars of devstack/pom.xml into .stack/jars/
    python -m devstack kafka <tool> [args ...]                    Kafka's own CLI tools (kafka-topics, ...)
    python -m devstack hdfs-dfs [args ...]                        hadoop fs ... against the profile's HDFS
    python -m devstack acl setup|grant|list ...                   SCRAM users and ACLs of the secure listener
    python -m devstack ui start|stop|status|token                 Airflow's UI and schedulers (make ui)
    python -m devstack demo                                       the tutorial end to end (make demo)
    python -m devstack cds [--on-stack|--force]                   the Spark driver's class-data-sharing archive
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from devstack import engine
from devstack.engine import KAFKA_TOOLS, Stack, StackError
from devstack.supervisor import SupervisorError


class UsageError(Exception):
    """Wrong arguments: print the usage, exit 2."""


def _stack(profile: str | None) -> Stack:
    try:
        return Stack(profile)
    except ValueError as exc:
        raise StackError(str(exc)) from None


def _kafka(rest: list[str], profile: str | None) -> int:
    if not rest:
        raise UsageError
    return engine.kafka_tool(rest[0], rest[1:])


def _restart(rest: list[str], profile: str | None) -> None:
    if not rest:
        raise UsageError
    stack = _stack(profile)
    for name in rest:
        stack.restart(name)


def _acl(rest: list[str], profile: str | None) -> int:
    from devstack import acl

    return acl.main(rest)


def _ui(rest: list[str], profile: str | None) -> int:
    from devstack import ui

    return ui.main(rest)


def _demo(rest: list[str], profile: str | None) -> None:
    from devstack import demo

    demo.main()
    # Done, and said so. End here, without the interpreter's teardown: after the demo has read the archive with
    # pyarrow, a native library's exit handler aborts the process ("terminate called without an active
    # exception"), which would turn a successful demo into a failed `make demo`.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _cds(rest: list[str], profile: str | None) -> int:
    """Build (or train) the driver's archive; the Makefile offers it to spark-submit (SPARK_SUBMIT_OPTS)."""
    from devstack import cds

    # the training dumps a new archive: not with another one mapped, nor a conf folder on the classpath
    for name in ("SPARK_SUBMIT_OPTS", "SPARK_CONF_DIR"):
        os.environ.pop(name, None)
    return cds.main(rest)


VERBS: dict[str, Callable[[list[str], str | None], int | None]] = {
    "up": lambda rest, p: _stack(p).up(rest),
    "down": lambda rest, p: _stack(p).down(rest),
    "status": lambda rest, p: 0 if _stack(p).status(rest) else 3,
    "reset": lambda rest, p: _stack(p).reset(),
    "restart": _restart,
    "jars": lambda rest, p: engine.resolve_jars(force="--force" in rest),
    "kafka": _kafka,
    "hdfs-dfs": lambda rest, p: _stack(p).hdfs_dfs(rest),
    "acl": _acl,
    "ui": _ui,
    "demo": _demo,
    "cds": _cds,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    profile = None
    if argv and argv[0].startswith("--profile"):
        if "=" in argv[0]:
            profile, argv = argv[0].split("=", 1)[1], argv[1:]
        elif len(argv) > 1:
            profile, argv = argv[1], argv[2:]
    try:
        if not argv or argv[0] not in VERBS:
            raise UsageError
        result = VERBS[argv[0]](argv[1:], profile)
    except UsageError:
        print(__doc__.split("\n\n", 1)[1].rstrip(), file=sys.stderr)
        print(f"    (Kafka tools: {', '.join(sorted(KAFKA_TOOLS))})", file=sys.stderr)
        return 2
    except (StackError, SupervisorError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0 if result is None else result


if __name__ == "__main__":
    sys.exit(main())
