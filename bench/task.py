"""A verification task in a process of its own, so that the bench times it and samples its peak RSS alone, as
Airflow runs each task in its own process:

    python -m bench.task verify <plan.json> <record.json>         read_from_kafka's verify_sink
    python -m bench.task verify_write <plan.json> <record.json>   write_to_kafka's verify_messages

``verify`` is include/pipeline/read.py verify; ``verify_write`` is include/pipeline/write.py verify (the
sensor's three steps, waiting in this process) and its check; both with the DAG's connections. Prints one
``BENCH_RESULT {"seconds": ..., ...}`` line: the seconds of the call itself (imports excluded, Airflow's
included) and its counts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("verify", "verify_write"):
        print(__doc__, file=sys.stderr)
        return 2
    import airflow.sdk  # noqa: F401 - a task's process has Airflow imported before the task runs

    from bench.stages.common import RESULT_MARK
    from include.pipeline import read, write

    plan, record = (json.loads(Path(path).read_text()) for path in argv[1:])
    started = time.monotonic()
    if argv[0] == "verify":
        out = read.verify(plan, record)
        result = {"checked": out["checked"], "files": out["files"]}
    else:
        report = write.verify(plan, record)
        result = write.check(plan, {**report.summary(), "complete": report.complete})
        result = {k: v for k, v in result.items() if k != "files"}
    seconds = time.monotonic() - started
    print(RESULT_MARK + json.dumps({"seconds": seconds, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
