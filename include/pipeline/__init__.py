"""The steps of both pipelines as plain functions, one copy each: the DAG tasks, the bench and the local
stack's CDS training call them alike (write.py, read.py)."""
