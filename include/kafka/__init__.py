"""Kafka for the pipeline: admin (topics, ACL checks), offsets, a bounded reader, security, producer callables."""
