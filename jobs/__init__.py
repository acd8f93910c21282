"""The Spark applications (write_to_kafka.py, read_from_kafka.py) and what they share (streaming.py).

spark-submit runs ``jobs/<job>.py`` with the whole package zipped on ``--py-files``, so the jobs import
``from jobs.streaming import ...`` on any driver. Nothing here imports Airflow or include/.
"""
