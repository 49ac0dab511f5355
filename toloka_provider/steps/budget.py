"""A run-level budget: the spending tasks of one DAG run draw on one cap, whose ledger is Toloka itself.

There is no ledger of our own to write, so no "record" step that a crash could skip. A run's commitment is
read back from Toloka before each draw: for each pool of the run (its ``metadata`` carries the run's dag id
and run id, as the pools the run creates do, or lists the run under ``airflow_budget_runs``, as a pool that a
budgeted task opens gets), the rewards of its ACCEPTED and SUBMITTED assignments, plus, while it is open, the
estimate of its remaining work; plus the bonuses the run's tasks paid (their ``private_comment`` starts with
the run's bonus tag). A draw (opening a pool, paying bonuses) is refused when commitment + draw > budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from toloka_provider.steps import spend
from toloka_provider.steps.quality import bonus_run_prefix

__all__ = [
    "BUDGET_RUNS_KEY",
    "RUN_BUDGET_PARAM",
    "Commitment",
    "PoolLine",
    "RunBudgetExceeded",
    "budget_from",
    "check_draw",
    "draw",
    "ledger_key",
    "pool_in_run",
    "run_bonus_prefix",
    "run_commitment",
    "tag_pool_for_run",
]

#: The pool ``metadata`` key listing the runs (``<dag id>/<run id>``) whose budget a pool draws on, when the
#: pool was not created by that run (a relabel round of an earlier pool, a pool made by hand).
BUDGET_RUNS_KEY = "airflow_budget_runs"


class RunBudgetExceeded(ValueError):
    """A draw would take the run past its budget; nothing was opened or paid."""


def ledger_key(dag_id: str, run_id: str) -> str:
    return f"{dag_id}/{run_id}"


def run_bonus_prefix(dag_id: str, run_id: str) -> str:
    """What every bonus ``private_comment`` of the run's tasks starts with (``steps.quality.bonus_tag``)."""
    return bonus_run_prefix(dag_id, run_id)


def pool_in_run(metadata: Mapping[str, Any] | None, dag_id: str, run_id: str) -> bool:
    """Whether a pool's ``metadata`` puts it in the run's ledger."""
    metadata = metadata or {}
    created = list(metadata.get("airflow_dag_id") or []) == [dag_id] and list(
        metadata.get("airflow_run_id") or []
    ) == [run_id]
    return created or ledger_key(dag_id, run_id) in list(metadata.get(BUDGET_RUNS_KEY) or [])


def tag_pool_for_run(client: Any, pool: Any, dag_id: str, run_id: str) -> bool:
    """Put a closed pool into the run's ledger (``BUDGET_RUNS_KEY``) before it spends; False if it was in it."""
    data = pool.to_json_dict()
    if pool_in_run(data.get("metadata"), dag_id, run_id):
        return False
    metadata = dict(data.get("metadata") or {})
    metadata[BUDGET_RUNS_KEY] = [*list(metadata.get(BUDGET_RUNS_KEY) or []), ledger_key(dag_id, run_id)]
    data["metadata"] = metadata
    client.update_pool(str(data["id"]), data)
    return True


@attrs.frozen
class PoolLine:
    """One pool of the run in the ledger: what it cost (charged + awaiting a decision) and what it may still."""

    pool_id: str
    status: str
    spent: Decimal
    remaining: Decimal  # the estimate of its remaining work while it is open; 0 when closed

    @property
    def total(self) -> Decimal:
        return self.spent + self.remaining


@attrs.frozen
class Commitment:
    """What a run has spent or committed, read from Toloka."""

    pools: tuple[PoolLine, ...]
    bonuses: Decimal
    bonus_count: int

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.pools), Decimal(0)) + self.bonuses

    def explain(self) -> str:
        parts = [
            f"pool {line.pool_id} {line.spent} USD spent"
            + (f" + {line.remaining} USD estimated to come" if line.remaining else "")
            for line in self.pools
        ]
        parts.append(f"{self.bonus_count} bonuses {self.bonuses} USD")
        return "; ".join(parts)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "total": str(self.total),
            "bonuses": str(self.bonuses),
            "bonus_count": self.bonus_count,
            "pools": [
                {"pool_id": line.pool_id, "status": line.status, "spent": str(line.spent),
                 "remaining": str(line.remaining)}
                for line in self.pools
            ],
        }


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def pool_spent(client: Any, pool_id: str) -> Decimal:
    """The rewards of a pool's ACCEPTED (charged) and SUBMITTED (charged when accepted) assignments."""
    assignments: Iterable[Any] = client.get_assignments(pool_id=pool_id, status=["ACCEPTED", "SUBMITTED"])
    return sum((Decimal(str(_field(a, "reward") or 0)) for a in assignments), Decimal(0))


def run_commitment(
    client: Any,
    dag_id: str,
    run_id: str,
    *,
    project_id: str | None = None,
    skip_remaining: Iterable[str] = (),
    fee_rate: Decimal = Decimal(0),
) -> Commitment:
    """Read the run's ledger from Toloka: its pools (of ``project_id``, or all) and its bonuses.

    ``skip_remaining``: pools whose remaining work the caller counts itself (the pool it is about to open).
    """
    skip = {str(pool_id) for pool_id in skip_remaining}
    filters = {"project_id": str(project_id)} if project_id else {}
    lines = []
    for pool in client.get_pools(**filters):
        data = pool.to_json_dict()
        if not pool_in_run(data.get("metadata"), dag_id, run_id):
            continue
        pool_id, status = str(data["id"]), str(data.get("status"))
        remaining = Decimal(0)
        if status == "OPEN" and pool_id not in skip:
            remaining = spend.estimate_pool_cost(client, pool_id, fee_rate=fee_rate).total
        lines.append(PoolLine(pool_id, status, pool_spent(client, pool_id), remaining))
    prefix = run_bonus_prefix(dag_id, run_id)
    bonuses = [b for b in client.get_user_bonuses() if str(_field(b, "private_comment") or "").startswith(prefix)]
    paid = sum((Decimal(str(_field(b, "amount") or 0)) for b in bonuses), Decimal(0))
    return Commitment(tuple(sorted(lines, key=lambda line: line.pool_id)), paid, len(bonuses))


def check_draw(commitment: Commitment, draw: Decimal, budget: Decimal, what: str, argument: str = "run_budget") -> None:
    """Raise RunBudgetExceeded, naming ``argument``, the commitment and the draw, when they pass the budget."""
    if commitment.total + draw > budget:
        raise RunBudgetExceeded(
            f"Not {what}: it would cost {draw} USD and this DAG run has spent or committed {commitment.total} USD "
            f"already ({commitment.explain()}); together {commitment.total + draw} USD, more than "
            f"{argument}={budget} USD. Raise {argument}, or spend less in this run."
        )


#: The DAG param a run's budget may come from (in USD) when a task has no ``run_budget`` argument.
RUN_BUDGET_PARAM = "toloka_run_budget"


def budget_from(value: Any, params: Mapping[str, Any] | None) -> Decimal | None:
    """The budget: the task's ``run_budget`` argument, else the DAG param ``toloka_run_budget``; None: none."""
    if value is None and params:
        value = params.get(RUN_BUDGET_PARAM)
        argument = f"the DAG param {RUN_BUDGET_PARAM}"
    else:
        argument = "run_budget"
    return None if value is None else spend.money(value, argument)


def draw(
    client: Any,
    dag_id: str,
    run_id: str,
    budget: Decimal,
    amount: Decimal,
    what: str,
    *,
    skip_remaining: Iterable[str] = (),
    fee_rate: Decimal = Decimal(0),
) -> Commitment:
    """Read the run's commitment and check that ``amount`` fits the budget (RunBudgetExceeded if not)."""
    commitment = run_commitment(client, dag_id, run_id, skip_remaining=skip_remaining, fee_rate=fee_rate)
    check_draw(commitment, amount, budget, what)
    return commitment
