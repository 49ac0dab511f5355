"""Constructor arguments shared by both clients, checked and normalised once (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import attrs

from toloka_provider.client.environment import Environment, base_headers, resolve_base_url
from toloka_provider.client.retry import RetryPolicy, make_policy_factory


def normalize_timeout(timeout: object) -> tuple[float | None, float | None]:
    """A float (both phases), a (connect, read) pair, or None (no timeout) -> (connect, read)."""
    if timeout is None:
        return (None, None)
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        pair: tuple = (timeout, timeout)
    elif isinstance(timeout, (tuple, list)) and len(timeout) == 2:
        pair = tuple(timeout)
    else:
        raise ValueError(f"timeout must be seconds, a (connect, read) pair, or None; got {timeout!r}")
    for value in pair:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value)
        ):
            raise ValueError(f"timeout values must be positive finite seconds or None; got {timeout!r}")
    return (None if pair[0] is None else float(pair[0]), None if pair[1] is None else float(pair[1]))


@attrs.frozen
class ClientConfig:
    url: str
    headers: dict[str, str] = attrs.field(repr=False)  # holds the token: never printed
    timeout: tuple[float | None, float | None]
    new_retry_policy: Callable[[], RetryPolicy] = attrs.field(repr=False)
    verify: bool | str


def make_config(
    token: str,
    environment: Environment | str | None,
    retries: int | object,
    timeout: object,
    url: str | None,
    retry_quotas: str | Iterable[str] | None,
    retryer_factory: Callable[[], object] | None,
    act_under_account_id: str | None,
    verify: bool | str,
) -> ClientConfig:
    return ClientConfig(
        url=resolve_base_url(environment, url),
        headers=base_headers(token, act_under_account_id),
        timeout=normalize_timeout(timeout),
        new_retry_policy=make_policy_factory(retries, retry_quotas, retryer_factory),
        verify=verify,
    )
