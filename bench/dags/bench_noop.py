"""
### bench_noop: one task that does nothing

`make bench` runs it with `airflow dags test`, in a throwaway Airflow home, to measure what any
`airflow dags test` run costs before and around a task (CLI start, DAG parsing, the run's creation, the
in-process Execution API): the floor of the orchestration-overhead figure. It is not in the project's
DAGs folder.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="bench_noop",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["bench"],
)
def bench_noop():
    @task
    def noop() -> None:
        return None

    noop()


bench_noop()
