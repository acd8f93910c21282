"""The stages of `make bench`, one module each (bench/run.py lists them); common.py holds what they share."""
