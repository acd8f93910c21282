"""Did exactly the expected messages arrive? The multiset diff, and one check per DAG (write.py, read.py)."""
