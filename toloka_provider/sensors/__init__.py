"""Airflow sensors of the Toloka provider: pools, operations, app batches, new assignments."""
