"""Retry decisions: which failures are retried, and how long to wait first. Pure functions, no I/O.

Both clients ask ``RetryPolicy.delay_for(outcome, retry_number)`` after every attempt. The answer is a delay in
seconds, or None for "give up" (then the core raises the mapped error).

* Statuses 408, 429, 500, 502, 503, 504 and transport failures (connection, timeout, broken body) are retried,
  for every HTTP method: bulk creates carry an ``operation_id``, so a repeated POST cannot create twice. The
  exception is creating a project, pool or training, which has no idempotency key: ``core.call`` retries those
  only after a 429 (see ``idempotent=False`` there).
* A ``Retry-After`` header (seconds or an HTTP date) gives the delay.
* A 429 whose body says ``payload.interval`` = MIN / HOUR / DAY is a quota: it is waited out (60 s, 1 h, 1 day)
  only when that interval is in ``retry_quotas``; otherwise the error is raised at once, because retrying
  sooner cannot succeed.
* Otherwise exponential backoff with jitter and a cap: ``min(cap, factor * 2**n)``, then a random value in
  its upper half, so that many clients hitting the same failure do not retry in lockstep.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterable

import attrs

from toloka_provider.client.protocol import Response, TransportFailure

log = logging.getLogger("toloka_provider.client")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
QUOTA_SECONDS = {"MIN": 60.0, "HOUR": 3600.0, "DAY": 86400.0}


def normalize_retry_quotas(retry_quotas: str | Iterable[str] | None) -> frozenset[str]:
    """Accept a name, a list of names, or None (= never wait out a quota)."""
    if retry_quotas is None:
        return frozenset()
    names = [retry_quotas] if isinstance(retry_quotas, str) else list(retry_quotas)
    result = set()
    for name in names:
        value = getattr(name, "value", name)
        if not isinstance(value, str) or value.upper() not in QUOTA_SECONDS:
            raise ValueError(f"retry_quotas must be MIN, HOUR, DAY, a list of them, or None; got {retry_quotas!r}")
        result.add(value.upper())
    return frozenset(result)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def quota_interval(response: Response) -> str | None:
    """The ``payload.interval`` of a 429 body, or None when the body is not a quota answer."""
    if response.status != 429 or not response.body:
        return None
    try:
        payload = json.loads(response.body).get("payload")
    except (ValueError, AttributeError):
        return None
    interval = payload.get("interval") if isinstance(payload, dict) else None
    return interval.upper() if isinstance(interval, str) else None


@attrs.define(kw_only=True)
class RetryPolicy:
    """How many times, on what, and how long to wait. Stateless: the retry number is passed in.

    ``total``: retries after the first attempt (``retries=3`` means at most 4 attempts).
    ``backoff_factor`` / ``backoff_cap``: the exponential backoff in seconds.
    ``statuses``: HTTP statuses worth retrying.
    ``retry_quotas``: quota intervals that are waited out (see the module docstring).
    ``rng``: the random source for jitter (tests pass a seeded one).
    """

    total: int = 3
    backoff_factor: float = 1.0
    backoff_cap: float = 60.0
    statuses: frozenset[int] = attrs.field(default=RETRY_STATUSES, converter=frozenset)
    retry_quotas: frozenset[str] = attrs.field(default=frozenset({"MIN"}), converter=normalize_retry_quotas)
    rng: random.Random = attrs.field(factory=random.Random, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.total, int) or self.total < 0:
            raise ValueError(f"retries must be a non-negative int, got {self.total!r}")

    def backoff(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (0-based), jittered within the upper half of the step."""
        step = min(self.backoff_cap, self.backoff_factor * (2**retry_number))
        return step / 2 + self.rng.uniform(0, step / 2)

    def delay_for(self, outcome: Response | TransportFailure, retry_number: int) -> float | None:
        """Seconds to wait before the next attempt, or None to stop and report ``outcome``."""
        if isinstance(outcome, Response):
            if outcome.status not in self.statuses:
                return None
            interval = quota_interval(outcome)
            retry_after = parse_retry_after(outcome.retry_after)
            if retry_after is None and interval is not None:
                if interval not in self.retry_quotas:
                    return None
                retry_after = QUOTA_SECONDS[interval]
            if retry_number >= self.total:
                return None
            if interval in ("HOUR", "DAY") and retry_after is not None:
                log.warning("Toloka %s quota exhausted; waiting %.0f s before retrying", interval, retry_after)
            return retry_after if retry_after is not None else self.backoff(retry_number)
        if retry_number >= self.total:
            return None
        return self.backoff(retry_number)


def policy_from_object(obj: object, retry_quotas: frozenset[str]) -> RetryPolicy:
    """Accept our ``RetryPolicy`` or a urllib3 ``Retry``-like object (``total``, ``backoff_factor``, ``status_forcelist``).

    toloka-kit users pass urllib3 ``Retry`` objects; the fields that matter carry over.
    """
    if isinstance(obj, RetryPolicy):
        return obj
    total = getattr(obj, "total", None)
    if isinstance(total, int) and not isinstance(total, bool):
        statuses = getattr(obj, "status_forcelist", None) or RETRY_STATUSES
        factor = getattr(obj, "backoff_factor", None)
        return RetryPolicy(
            total=total,
            backoff_factor=float(factor) if factor else 1.0,
            backoff_cap=float(getattr(obj, "backoff_max", None) or 60.0),
            statuses=frozenset(statuses),
            retry_quotas=retry_quotas,
        )
    raise TypeError(
        "retries must be an int, a RetryPolicy, or a urllib3 Retry-like object with an int 'total'; "
        f"got {type(obj).__name__}"
    )


def make_policy_factory(
    retries: int | object, retry_quotas: str | Iterable[str] | None, retryer_factory: Callable[[], object] | None
) -> Callable[[], RetryPolicy]:
    """Turn the constructor's ``retries`` / ``retry_quotas`` / ``retryer_factory`` into one factory.

    The factory is called once per request sequence (one logical call with its retries).
    """
    quotas = normalize_retry_quotas(retry_quotas)
    if retryer_factory is not None:
        if not callable(retryer_factory):
            raise TypeError(f"retryer_factory must be callable, got {type(retryer_factory).__name__}")
        return lambda: policy_from_object(retryer_factory(), quotas)
    if isinstance(retries, bool):
        raise TypeError("retries must be an int or a policy object, not a bool")
    if isinstance(retries, int):
        policy = RetryPolicy(total=retries, retry_quotas=quotas)
    else:
        policy = policy_from_object(retries, quotas)
    return lambda: policy
