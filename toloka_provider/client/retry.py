"""Retry decisions: which failures are retried, and how long to wait first. Pure functions, no I/O.

Both clients ask ``RetryPolicy.delay_for(outcome, retry_number)`` after every attempt. The answer is a delay in
seconds, or None for "give up" (then the core raises the mapped error).

* Statuses 408, 429, 500, 502, 503, 504 and transport failures (connection, timeout, broken body) are retried,
  for every HTTP method: bulk creates carry an ``operation_id``, so a repeated POST cannot create twice. The
  exception is creating a project, pool or training, which has no idempotency key: ``core.call`` retries those
  only after a 429 (see ``idempotent=False`` there).
* A ``Retry-After`` header (seconds or an HTTP date) gives the delay. A negative value or a date in the past
  means "now"; garbage and ``nan`` are ignored (backoff applies).
* A 429 whose body says ``payload.interval`` = MIN / HOUR / DAY is a quota: it is waited out (60 s, 1 h, 1 day)
  only when that interval is in ``retry_quotas``; otherwise the error is raised at once, because retrying
  sooner cannot succeed.
* Every wait is bounded by ``max_retry_after`` (the clients' constructor argument, default 300 s): a server
  hint (``Retry-After``, huge or ``inf``, or a quota interval) above it is not slept; the core raises the
  error at once with the hint in ``retry_after`` (a ``TooManyRequestsApiError`` for a 429).
* Otherwise exponential backoff with jitter and a cap: ``min(cap, factor * 2**n, max_retry_after)``, then a
  random value in its upper half, so that many clients hitting the same failure do not retry in lockstep.
* At most ``MAX_RETRIES`` retries per call, whatever the policy object says.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from typing import Literal, overload

import attrs

from toloka_provider.client.errors import TolokaArgumentError, TolokaArgumentTypeError
from toloka_provider.client.protocol import Response, TransportFailure

log = logging.getLogger("toloka_provider.client")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
QUOTA_SECONDS = {"MIN": 60.0, "HOUR": 3600.0, "DAY": 86400.0}

#: The default longest wait the client accepts from a server hint (``max_retry_after``), in seconds.
DEFAULT_MAX_RETRY_AFTER = 300.0
#: The most retries one call makes, whatever ``retries`` says (a typo of 10**9 must not retry forever).
MAX_RETRIES = 100
_RETRY_AFTER_MAX_LENGTH = 64  # longer header values are garbage, not parsed


def _status_set(statuses: Iterable[int]) -> frozenset[int]:
    # A named converter: with the generic class ``frozenset`` itself, mypy's attrs plugin types the
    # ``statuses`` parameter as an unsolvable ``Iterable[_T_co]``.
    return frozenset(statuses)


@overload
def check_seconds(argument: str, value: object, *, allow_none: Literal[False] = False) -> float: ...
@overload
def check_seconds(argument: str, value: object, *, allow_none: bool) -> float | None: ...
def check_seconds(argument: str, value: object, *, allow_none: bool = False) -> float | None:
    """A non-negative finite number of seconds (``TolokaArgumentError`` naming ``argument`` otherwise)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TolokaArgumentTypeError(
            f"{argument} must be a number of seconds, got {type(value).__name__} {value!r}"
        )
    if not (value >= 0 and math.isfinite(value)):
        raise TolokaArgumentError(f"{argument} must be a non-negative finite number of seconds, got {value!r}")
    return float(value)


def normalize_retry_quotas(retry_quotas: str | Iterable[str] | None) -> frozenset[str]:
    """Accept a name, a list of names, or None (= never wait out a quota)."""
    if retry_quotas is None:
        return frozenset()
    names = [retry_quotas] if isinstance(retry_quotas, str) else list(retry_quotas)
    result = set()
    for name in names:
        value = getattr(name, "value", name)
        if not isinstance(value, str) or value.upper() not in QUOTA_SECONDS:
            raise TolokaArgumentError(
                f"retry_quotas must be MIN, HOUR, DAY, a list of them, or None; got {retry_quotas!r}"
            )
        result.add(value.upper())
    return frozenset(result)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad.

    Negative values and past dates give 0; ``inf`` (or a number too big for a float) gives ``inf``, which is
    above any ``max_retry_after``; ``nan`` and garbage give None. Never raises.
    """
    if not value or not isinstance(value, str) or len(value) > _RETRY_AFTER_MAX_LENGTH:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when is None:
            return None
        if when.tzinfo is None:  # "-0000" gives a naive datetime: it is UTC all the same
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    except Exception:  # the stdlib raises TypeError, ValueError, IndexError, OverflowError on odd dates
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def quota_interval(response: Response) -> str | None:
    """The ``payload.interval`` of a 429 body, or None when the body is not a quota answer."""
    if response.status != 429 or not response.body:
        return None
    try:
        payload = json.loads(response.body).get("payload")
    except (ValueError, AttributeError, RecursionError):
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
    ``max_retry_after``: the longest server hint that is slept (the clients set it from their constructor).
    ``rng``: the random source for jitter (tests pass a seeded one).
    """

    total: int = 3
    backoff_factor: float = 1.0
    backoff_cap: float = 60.0
    statuses: frozenset[int] = attrs.field(default=RETRY_STATUSES, converter=_status_set)
    retry_quotas: frozenset[str] = attrs.field(default=frozenset({"MIN"}), converter=normalize_retry_quotas)
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    rng: random.Random = attrs.field(factory=random.Random, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.total, bool) or not isinstance(self.total, int):
            raise TolokaArgumentTypeError(f"retries must be a non-negative int, got {self.total!r}")
        if not 0 <= self.total <= MAX_RETRIES:
            raise TolokaArgumentError(
                f"retries must be a non-negative int of at most {MAX_RETRIES}, got {self.total!r}"
            )
        check_seconds("backoff_factor", self.backoff_factor)
        check_seconds("backoff_cap", self.backoff_cap)
        check_seconds("max_retry_after", self.max_retry_after)

    def backoff(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (0-based), jittered within the upper half of the step."""
        step = min(self.backoff_cap, self.max_retry_after, self.backoff_factor * (2.0 ** min(retry_number, 64)))
        return step / 2 + self.rng.uniform(0, step / 2)

    def server_hint(self, outcome: Response | TransportFailure) -> float | None:
        """The wait the server asks for before a retry (``Retry-After`` or a quota interval), or None."""
        if not isinstance(outcome, Response):
            return None
        retry_after = parse_retry_after(outcome.retry_after)
        if retry_after is None:
            interval = quota_interval(outcome)
            if interval is not None:
                retry_after = QUOTA_SECONDS.get(interval)
        return retry_after

    def refused_wait(self, outcome: Response | TransportFailure) -> float | None:
        """The server's hint when it is longer than ``max_retry_after`` (so it was not slept), else None."""
        if not isinstance(outcome, Response) or outcome.status not in self.statuses:
            return None
        hint = self.server_hint(outcome)
        return hint if hint is not None and hint > self.max_retry_after else None

    def delay_for(self, outcome: Response | TransportFailure, retry_number: int) -> float | None:
        """Seconds to wait before the next attempt, or None to stop and report ``outcome``.

        Never more than ``max_retry_after``: a longer server hint stops (see ``refused_wait``).
        """
        if isinstance(outcome, Response):
            if outcome.status not in self.statuses:
                return None
            interval = quota_interval(outcome)
            retry_after = parse_retry_after(outcome.retry_after)
            if retry_after is None and interval is not None:
                if interval not in self.retry_quotas:
                    return None
                retry_after = QUOTA_SECONDS.get(interval)
            if retry_number >= min(self.total, MAX_RETRIES):
                return None
            if retry_after is not None and retry_after > self.max_retry_after:
                return None
            if interval in ("HOUR", "DAY") and retry_after is not None:
                log.warning("Toloka %s quota exhausted; waiting %.0f s before retrying", interval, retry_after)
            return retry_after if retry_after is not None else self.backoff(retry_number)
        if retry_number >= min(self.total, MAX_RETRIES):
            return None
        return self.backoff(retry_number)


def policy_from_object(
    obj: object, retry_quotas: frozenset[str], max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
) -> RetryPolicy:
    """Accept our ``RetryPolicy`` or a urllib3 ``Retry``-like object (``total``, ``backoff_factor``, ``status_forcelist``).

    toloka-kit users pass urllib3 ``Retry`` objects; the fields that matter carry over.
    """
    if isinstance(obj, RetryPolicy):
        if obj.max_retry_after == max_retry_after:
            return obj
        return attrs.evolve(obj, max_retry_after=max_retry_after)
    total = getattr(obj, "total", None)
    if isinstance(total, int) and not isinstance(total, bool):
        statuses = getattr(obj, "status_forcelist", None) or RETRY_STATUSES
        factor = getattr(obj, "backoff_factor", None)
        try:
            return RetryPolicy(
                total=total,
                backoff_factor=float(factor) if factor else 1.0,
                backoff_cap=float(getattr(obj, "backoff_max", None) or 60.0),
                statuses=frozenset(statuses),
                retry_quotas=retry_quotas,
                max_retry_after=max_retry_after,
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, TolokaArgumentError):
                raise
            raise TolokaArgumentTypeError(f"retries: cannot read the retry object {type(obj).__name__}: {exc}") from None
    raise TolokaArgumentTypeError(
        "retries must be an int, a RetryPolicy, or a urllib3 Retry-like object with an int 'total'; "
        f"got {type(obj).__name__}"
    )


def make_policy_factory(
    retries: int | object,
    retry_quotas: str | Iterable[str] | None,
    retryer_factory: Callable[[], object] | None,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
) -> Callable[[], RetryPolicy]:
    """Turn the constructor's ``retries`` / ``retry_quotas`` / ``retryer_factory`` into one factory.

    The factory is called once per request sequence (one logical call with its retries). The client's
    ``max_retry_after`` applies to every policy, including one the caller passes in.
    """
    max_retry_after = check_seconds("max_retry_after", max_retry_after)
    quotas = normalize_retry_quotas(retry_quotas)
    if retryer_factory is not None:
        if not callable(retryer_factory):
            raise TolokaArgumentTypeError(
                f"retryer_factory must be callable, got {type(retryer_factory).__name__}"
            )
        return lambda: policy_from_object(retryer_factory(), quotas, max_retry_after)
    if isinstance(retries, bool):
        raise TolokaArgumentTypeError("retries must be an int or a policy object, not a bool")
    if isinstance(retries, int):
        policy = RetryPolicy(total=retries, retry_quotas=quotas, max_retry_after=max_retry_after)
    else:
        policy = policy_from_object(retries, quotas, max_retry_after)
    return lambda: policy
