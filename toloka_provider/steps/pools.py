"""Reading a pool by id when it may be a training (trainings are pools with their own endpoint)."""

from __future__ import annotations

from typing import Any

from toloka_provider.client.errors import DoesNotExistApiError


def read_pool_or_training(client: Any, pool_id: str) -> Any:
    """The pool ``pool_id``, or the training of that id; ``DoesNotExistApiError`` (the pool's) when neither exists."""
    try:
        return client.get_pool(pool_id)
    except DoesNotExistApiError as error:
        try:
            return client.get_training(pool_id)
        except DoesNotExistApiError:
            raise error from None
