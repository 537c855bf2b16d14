"""Interpretation of an accuracy estimator: per-decision values (``values``), their plots and the report folder."""
