"""Benchmarks: one script per measured thing, each printing a table (see ``common.py``)."""
