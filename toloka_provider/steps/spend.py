"""What opening a pool will cost, estimated before it is opened, and the check against a ``max_spend`` cap.

The estimate reads the pool (reward, mixer, defaults) and its tasks' remaining overlap, and only reads:
nothing is opened or changed here. Toloka charges the reward of each accepted assignment; an assignment is
one task suite, which the mixer fills with up to ``real_tasks_count`` real tasks (golden and training tasks
ride along and add no assignments). So::

    assignments = ceil(sum of the real tasks' remaining overlap / real_tasks_count)
    estimate    = assignments * reward_per_assignment * (1 + fee_rate)

It is the cost when every assignment is accepted (rejected ones are not paid): an upper figure for the usual
case. The fee is the requester's contract; ``fee_rate`` 0 is what the local emulator charges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

__all__ = ["SpendCapExceeded", "SpendEstimate", "check_cap", "estimate_pool_cost", "money"]


class SpendCapExceeded(ValueError):
    """Opening the pool would spend more than ``max_spend``; nothing was opened."""


def money(value: Any, argument: str) -> Decimal:
    """``value`` as a finite, non-negative Decimal (a float goes through its shortest ``str``: 0.1 is 0.1)."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise ValueError(f"'{argument}' must be an amount in USD (Decimal, str, int or float), got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"'{argument}' must be an amount in USD, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"'{argument}' must be a finite amount >= 0 USD, got {value!r}")
    return amount


@attrs.frozen
class SpendEstimate:
    """The estimated cost of a pool's remaining work, with every number it came from."""

    pool_id: str
    real_tasks: int  # real (non-golden) tasks with overlap left
    overlap_slots: int  # the sum of their remaining overlap
    tasks_per_suite: int
    assignments: int
    reward: Decimal  # per assignment (the highest, with dynamic pricing)
    fee_rate: Decimal
    total: Decimal

    def explain(self) -> str:
        fee = f" * (1 + fee {self.fee_rate})" if self.fee_rate else ""
        return (
            f"{self.assignments} assignments (ceil({self.overlap_slots} overlap slots of {self.real_tasks} real "
            f"tasks / {self.tasks_per_suite} tasks per suite)) * reward {self.reward} USD{fee} = {self.total} USD"
        )

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe (amounts as strings), for XCom and logs."""
        data = attrs.asdict(self)
        for key in ("reward", "fee_rate", "total"):
            data[key] = str(data[key])
        data["explanation"] = self.explain()
        return data


def _reward(pool: Mapping[str, Any]) -> Decimal:
    rewards = [pool.get("reward_per_assignment")]
    pricing = pool.get("dynamic_pricing_config") or {}
    rewards += [interval.get("reward_per_assignment") for interval in pricing.get("intervals") or []]
    known = [money(value, "reward_per_assignment") for value in rewards if value is not None]
    if not known:
        raise ValueError(f"Pool {pool.get('id')} has no reward_per_assignment: its cost cannot be estimated")
    return max(known)


def _remaining(task: Mapping[str, Any], default_overlap: int) -> int | None:
    """The assignments a task still wants; None for infinite overlap."""
    if task.get("infinite_overlap"):
        return None
    remaining = task.get("remaining_overlap")
    if remaining is None:
        remaining = task.get("overlap")
    if remaining is None:
        remaining = default_overlap
    return max(int(remaining), 0)


def estimate_from(pool: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]], *, fee_rate: Decimal = Decimal(0)) -> SpendEstimate:
    """The estimate from a pool and its tasks, both as wire dicts (pure: sends nothing)."""
    pool_id = str(pool.get("id"))
    mixer = pool.get("mixer_config") or {}
    tasks_per_suite = int(mixer.get("real_tasks_count") or 0) or 1
    defaults = pool.get("defaults") or {}
    default_overlap = int(defaults.get("default_overlap_for_new_tasks") or defaults.get("default_overlap_for_new_task_suites") or 1)
    real = golden = 0
    real_slots = golden_slots = 0
    for task in tasks:
        remaining = _remaining(task, default_overlap)
        is_golden = bool(task.get("known_solutions"))
        if remaining is None:
            if is_golden:
                continue  # infinite-overlap golden tasks ride along in the real tasks' suites
            raise ValueError(
                f"Pool {pool_id}: task {task.get('id')} has infinite overlap, so the pool's cost has no bound; "
                f"give it an overlap, or open the pool without max_spend"
            )
        if is_golden:
            golden += remaining > 0
            golden_slots += remaining
        else:
            real += remaining > 0
            real_slots += remaining
    if not real_slots:  # a pool of golden tasks only: they are the work
        real, real_slots = golden, golden_slots
        tasks_per_suite = int(mixer.get("golden_tasks_count") or 0) or tasks_per_suite
    assignments = math.ceil(real_slots / tasks_per_suite)
    reward = _reward(pool)
    total = assignments * reward * (1 + fee_rate)
    return SpendEstimate(pool_id, real, real_slots, tasks_per_suite, assignments, reward, fee_rate, total)


def estimate_pool_cost(client: Any, pool_id: str, *, fee_rate: Decimal = Decimal(0)) -> SpendEstimate:
    """Read the pool and its tasks through ``client`` and estimate what its remaining work costs."""
    pool = client.get_pool(pool_id).to_json_dict()
    tasks = (task.to_json_dict() for task in client.get_tasks(pool_id=pool_id))
    return estimate_from(pool, tasks, fee_rate=fee_rate)


def check_cap(estimate: SpendEstimate, max_spend: Decimal, *, argument: str = "max_spend") -> None:
    """Raise SpendCapExceeded, naming ``argument``, the estimate and how it was computed, when over the cap."""
    if estimate.total > max_spend:
        raise SpendCapExceeded(
            f"Not opening pool {estimate.pool_id}: its estimated cost {estimate.total} USD is more than "
            f"{argument}={max_spend} USD. Estimate: {estimate.explain()}. Raise {argument}, or give the pool "
            f"fewer tasks, less overlap or a lower reward."
        )
