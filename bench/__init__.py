"""`make bench`: the pipeline's speed, measured against Kafka's own perf tools in the same run.

- ``run``: the command line and the stage list (``python -m bench.run``); ``stages/``: one module per stage,
  ``stages/common.py`` what they share (the run's context, the DAGs' spark-submit commands, result parsing).
- ``stats``: pure helpers (percentiles, rates, parsing the perf tools' output), unit-tested.
- ``players_data``: a deterministic players CSV of any size (Unicode names, all rows valid).
- ``sampler``: peak RSS of the Spark driver and of the broker, sampled from /proc via psutil.
- ``report``: results JSON, the Markdown table, the chart, docs/performance.md's generated part.
- ``bare_write``: write_to_kafka's pipeline steps without Airflow (the orchestration-overhead baseline).
- ``apps/``: tiny Spark applications (the parse ceiling, the spark-submit start probe).
"""
