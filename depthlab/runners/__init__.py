"""Glue from named data sources to models and training: one runner per paper."""
