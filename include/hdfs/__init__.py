"""HDFS for the pipeline, through WebHDFS: the client, ingestion of the source CSV, Spark's own logs."""
