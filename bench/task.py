"""One of read_from_kafka's tasks in a process of its own, so that the bench times it and samples its peak RSS
alone, as Airflow runs each task in its own process:

    python -m bench.task verify <plan.json> <record.json>

``verify`` is the DAG's verify_sink (include/pipeline/read.py verify) with the DAG's connections. Prints one
``BENCH_RESULT {"seconds": ..., ...}`` line: the seconds of the call itself (imports excluded, Airflow's
included) and its counts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "verify":
        print(__doc__, file=sys.stderr)
        return 2
    import airflow.sdk  # noqa: F401 - a task's process has Airflow imported before the task runs

    from bench.stages.common import RESULT_MARK
    from include.pipeline import read

    plan, record = (json.loads(Path(path).read_text()) for path in argv[1:])
    started = time.monotonic()
    out = read.verify(plan, record)
    seconds = time.monotonic() - started
    print(RESULT_MARK + json.dumps({"seconds": seconds, "checked": out["checked"], "files": out["files"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
