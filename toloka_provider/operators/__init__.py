"""Toloka operators. Import them from their modules, e.g. ``toloka_provider.operators.pool``."""
