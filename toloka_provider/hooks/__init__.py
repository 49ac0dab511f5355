"""Airflow hooks of the Toloka provider."""
