"""``text_classification`` with quality control: ban the spammers, route the relabeling to skilled workers, pay the best.

The same crowd task as ``text_classification`` (support tickets, overlap 3, one golden task in every page of four),
with the quality-control steps of ``toloka_provider.operators.quality`` between the first pass and the relabeling:

1. Create the project, training and main pool; upload and run them as ``text_classification`` does.
2. From the first pass, write each worker's statistics (golden answers seen and right, accuracy, assignments,
   median seconds) to ``worker_stats.jsonl``.
3. **Ban** the workers whose golden accuracy is below ``BAN_BELOW`` over at least ``MIN_GOLDEN`` golden answers, in
   the whole project (``TolokaRestrictWorkersOperator``), so they get none of the relabeling.
4. Give every worker with at least ``MIN_GOLDEN_FOR_SKILL`` golden answers the **skill** "golden accuracy × 100"
   (``TolokaSetUserSkillsOperator``; fewer answers say more about luck than skill), and
   create a relabel pool open only to workers with the skill at ``SKILLED_AT`` or more.
5. **Relabel** disputed tickets in that pool: ``RELABEL_ROUNDS`` rounds of ``EXTRA_VOTES_PER_ROUND`` vote each
   (a ticket left with fewer than three counted votes is disputed too, also one that only banned workers
   answered) — a vote from a skilled worker settles more than one from the open crowd, so the rounds cost less.
6. Review both pools (reject, so do not pay for, the work of workers below ``REVIEW_THRESHOLD`` on golden tasks:
   the same workers whose votes are dropped), aggregate the votes
   with Dawid-Skene (the banned workers' votes left out, except on a ticket that has no other: every ticket
   gets a label), pay **bonuses** to the ``BONUS_TOP_N`` best workers (``TolokaCreateBonusesOperator``, capped
   at ``BONUS_CAP``), and write the labels and ``run_summary.json`` (with the money spent: the requester balance
   before and after).

Every step is safe to retry (see the operators). Run it against the emulator like ``text_classification``
(``tests/e2e/test_e2e_quality_demo.py`` compares the two on the same seeded crowd).
"""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from airflow.sdk import DAG, ObjectStoragePath, task

from toloka_provider.hooks.toloka import TolokaHook
from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator
from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
    golden_accuracy_by_worker,
)
from toloka_provider.operators.pool import TolokaCreatePoolOperator, TolokaOpenPoolOperator
from toloka_provider.operators.project import TolokaCreateProjectOperator
from toloka_provider.operators.quality import (
    TolokaCreateBonusesOperator,
    TolokaRestrictWorkersOperator,
    TolokaSetUserSkillsOperator,
)
from toloka_provider.operators.tasks import TolokaCreateTasksOperator
from toloka_provider.operators.training import TolokaCreateTrainingOperator, TolokaOpenTrainingOperator
from toloka_provider.sensors.pool import TolokaPoolSensor

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "configs"
DATA = HERE / "data" / "support_tickets"

POOL_EXPIRES_IN = timedelta(days=2)
MIN_GOLDEN = 3
MIN_GOLDEN_FOR_SKILL = 8  # a skill from fewer golden answers is mostly luck
BAN_BELOW = 0.6
SKILLED_AT = 85
REVIEW_THRESHOLD = BAN_BELOW  # the work whose votes are dropped is not paid for either
RELABEL_ROUNDS = 3
EXTRA_VOTES_PER_ROUND = 1
MAX_VOTES = 3 + RELABEL_ROUNDS * EXTRA_VOTES_PER_ROUND
BONUS_TOP_N = 3
BONUS_AMOUNT = Decimal("0.02")
BONUS_CAP = Decimal("0.06")
SKILL_NAME = "support tickets: golden accuracy"
POOL_POLL_INTERVAL = float(os.environ.get("TOLOKA_EXAMPLES_POLL_INTERVAL", "30"))


def _output_root() -> str:
    """``$TOLOKA_EXAMPLES_OUTPUT`` as a URL, with ``$TOLOKA_EXAMPLES_OUTPUT_CONN_ID`` in it (as text_classification)."""
    root = os.environ.get("TOLOKA_EXAMPLES_OUTPUT") or os.path.join(
        os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "toloka_examples"
    )
    if "://" not in root:
        root = "file://" + os.path.abspath(root)
    conn_id = os.environ.get("TOLOKA_EXAMPLES_OUTPUT_CONN_ID")
    scheme, rest = root.split("://", 1)
    if conn_id and scheme != "file" and "@" not in rest.split("/", 1)[0]:
        root = f"{scheme}://{conn_id}@{rest}"
    return root.rstrip("/")


OUTPUT_ROOT = f"{_output_root()}/text_classification_qc"


def path_safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(value)).strip("-")


RUN_FOLDER = OUTPUT_ROOT + "/{{ run_id | path_safe }}"


def _read_jsonl(url: str) -> list[dict]:
    with ObjectStoragePath(url).open("r", encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def _submitted(client, pool_id: str) -> list[dict]:
    return [item for page in client.get_assignments_raw(pool_id=pool_id, status="SUBMITTED") for item in page]


def votes_by_ticket(assignments: list[dict], skip: set[str] | frozenset[str] = frozenset()) -> dict[str, tuple[dict, set, list]]:
    """``{ticket_id: (input_values, voters, answers)}`` over real tasks and their copies (golden left out).

    The answers of the workers in ``skip`` do not count, but their tickets are listed all the same: a ticket
    that only banned workers answered has no votes and must be asked again, not forgotten.
    """
    votes: dict[str, tuple[dict, set, list]] = {}
    for assignment in assignments:
        for item, solution in zip(assignment.get("tasks") or [], assignment.get("solutions") or [], strict=False):
            if item.get("known_solutions"):
                continue
            inputs = item.get("input_values") or {}
            _, voters, answers = votes.setdefault(str(inputs.get("ticket_id")), (inputs, set(), []))
            if str(assignment.get("user_id")) in skip:
                continue
            voters.add(str(assignment["user_id"]))
            answers.append((solution.get("output_values") or {}).get("label"))
    return votes


def weak_workers(stats_path: str) -> set[str]:
    """The workers banned for their golden accuracy: their votes do not count."""
    weak = set()
    for row in _read_jsonl(stats_path):
        accuracy = row.get("golden_accuracy")
        if accuracy is not None and row["golden_seen"] >= MIN_GOLDEN and accuracy < BAN_BELOW:
            weak.add(row["user_id"])
    return weak


def is_disputed(votes: list[str]) -> bool:
    """No clear winner: the top answer leads the next by fewer than two votes, or has under 60% of them."""
    ranked = Counter(votes).most_common(2)
    if not ranked:
        return False
    lead = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0)
    return lead < 2 or ranked[0][1] < 0.6 * len(votes)


with DAG(
    dag_id="text_classification_qc",
    description="Support tickets with quality control: bans, skills, skilled relabeling, bonuses",
    schedule=None,
    catchup=False,
    tags=["toloka", "example"],
    user_defined_filters={"path_safe": path_safe},
    # --8<-- [start:retries]
    default_args={
        "retries": 3,  # a killed worker, an outage longer than the client's own retries
        "retry_delay": timedelta(seconds=30),  # long enough for a restarted service to come back
        "execution_timeout": POOL_EXPIRES_IN,  # no task outlives the pool it works on
        "toloka_conn_id": "toloka_default",
    },
    # --8<-- [end:retries]
    doc_md=__doc__,
) as dag:

    @task
    def balance_before() -> str:
        return str(TolokaHook().get_conn().get_requester().balance)

    start_balance = balance_before()
    create_project = TolokaCreateProjectOperator(
        task_id="create_project", project=str(CONFIGS / "text_classification_project.json")
    )
    create_training = TolokaCreateTrainingOperator(
        task_id="create_training", training=str(CONFIGS / "text_classification_training.json"),
        project_id=create_project.output,
    )
    upload_training_tasks = TolokaCreateTasksOperator(
        task_id="upload_training_tasks", pool_id=create_training.output, tasks_path=str(DATA / "training.jsonl")
    )
    open_training = TolokaOpenTrainingOperator(task_id="open_training", training_id=create_training.output)
    create_pool = TolokaCreatePoolOperator(
        task_id="create_pool", pool_config=str(CONFIGS / "text_classification_pool.json"),
        project_id=create_project.output, training_id=create_training.output, expires_in=POOL_EXPIRES_IN,
    )
    upload_tasks = TolokaCreateTasksOperator(
        task_id="upload_tasks", pool_id=create_pool.output, tasks_path=str(DATA / "tasks.jsonl"), allow_defaults=True
    )
    upload_golden = TolokaCreateTasksOperator(
        task_id="upload_golden", pool_id=create_pool.output, tasks_path=str(DATA / "golden.jsonl")
    )
    open_pool = TolokaOpenPoolOperator(task_id="open_pool", pool_id=create_pool.output)
    wait_for_pool = TolokaPoolSensor(
        task_id="wait_for_pool", pool_id=create_pool.output, deferrable=True, poke_interval=POOL_POLL_INTERVAL,
        timeout=int(POOL_EXPIRES_IN.total_seconds()),
    )
    start_balance >> create_project
    upload_training_tasks >> open_training >> create_pool
    [upload_tasks, upload_golden] >> open_pool >> wait_for_pool

    @task
    def worker_statistics(pool_id: str, folder: str) -> str:
        """worker_stats.jsonl from the first pass (the format the quality operators read)."""
        assignments = _submitted(TolokaHook().get_conn(), pool_id)
        golden = golden_accuracy_by_worker(assignments)
        counts: Counter = Counter(str(a["user_id"]) for a in assignments)
        seconds: dict[str, list[float]] = defaultdict(list)
        for a in assignments:
            if a.get("created") and a.get("submitted"):
                from datetime import datetime

                span = datetime.fromisoformat(a["submitted"]) - datetime.fromisoformat(a["created"])
                seconds[str(a["user_id"])].append(span.total_seconds())
        path = ObjectStoragePath(folder) / "worker_stats.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for user in sorted(counts):
            right, seen = golden.get(user, (0, 0))
            lines.append(json.dumps({
                "user_id": user, "assignments": counts[user], "golden_seen": seen, "golden_correct": right,
                "golden_accuracy": right / seen if seen else None, "accepted": 0, "rejected": 0,
                "median_seconds": statistics.median(seconds[user]) if seconds[user] else None,
            }) + "\n")
        path.write_text("".join(lines))
        return str(path)

    stats = worker_statistics(create_pool.output, RUN_FOLDER)
    wait_for_pool >> stats
    # --8<-- [start:ban_skill]
    ban = TolokaRestrictWorkersOperator(
        task_id="ban_spammers", statistics_path=stats, scope="PROJECT", project_id=create_project.output,
        accuracy_below=BAN_BELOW, min_golden=MIN_GOLDEN, duration=timedelta(days=7),
        private_comment="text_classification_qc: golden accuracy",
    )
    skill = TolokaSetUserSkillsOperator(
        task_id="set_skill", skill_name=SKILL_NAME, statistics_path=stats, min_answers=MIN_GOLDEN_FOR_SKILL,
        reason="golden accuracy in the main pool",
    )
    # --8<-- [end:ban_skill]

    @task
    def relabel_pool_config(skill_result: dict) -> dict:
        """The main pool's config, open only to workers with the skill (no training, no golden tasks)."""
        config = json.loads((CONFIGS / "text_classification_pool.json").read_text())
        config["private_name"] = "Support tickets: skilled relabeling"
        config.pop("quality_control", None)
        config["mixer_config"] = {"real_tasks_count": 4, "golden_tasks_count": 0, "training_tasks_count": 0}
        config["defaults"] = {"default_overlap_for_new_task_suites": EXTRA_VOTES_PER_ROUND,
                              "default_overlap_for_new_tasks": EXTRA_VOTES_PER_ROUND}
        config["filter"] = {"and": [
            *config.get("filter", {}).get("and", []),
            {"or": [{"category": "skill", "key": skill_result["skill_id"], "operator": "GTE", "value": SKILLED_AT}]},
        ]}
        return config

    create_relabel_pool = TolokaCreatePoolOperator(
        task_id="create_relabel_pool", pool_config=relabel_pool_config(skill.output),
        project_id=create_project.output, expires_in=POOL_EXPIRES_IN,
    )
    ban >> create_relabel_pool

    @task
    def plan_more_votes(pool_id: str, relabel_pool_id: str, stats_path: str, folder: str, round_number: int) -> dict:
        """This round's copies of the disputed tickets (not for workers who answered them) for the skilled pool.

        Disputed among the votes that count (the banned workers' are left out, as in the aggregation).
        """
        client = TolokaHook().get_conn()
        weak = weak_workers(stats_path)
        answered = _submitted(client, pool_id) + _submitted(client, relabel_pool_id)
        votes = votes_by_ticket(answered, skip=weak)
        # A ticket left with fewer than three counted votes (a banned worker's were dropped; none at all when
        # only banned workers answered it) is asked again too.
        disputed = [
            (i, v) for i, v, answers in votes.values()
            if len(answers) < MAX_VOTES and (len(answers) < 3 or is_disputed(answers))
        ]
        lines = [
            json.dumps({"input_values": i, "overlap": EXTRA_VOTES_PER_ROUND, "unavailable_for": sorted(v)}) + "\n"
            for i, v in disputed
        ]
        path = ObjectStoragePath(folder) / f"relabel_round_{round_number}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines))
        log.info("Round %d: %d of %d tickets disputed", round_number, len(disputed), len(votes))
        return {"round": round_number, "tickets": len(votes), "disputed": len(disputed), "path": str(path)}

    previous = create_relabel_pool
    for round_number in range(1, RELABEL_ROUNDS + 1):
        plan = plan_more_votes.override(task_id=f"plan_round_{round_number}")(
            create_pool.output, create_relabel_pool.output, stats, RUN_FOLDER, round_number
        )
        upload = TolokaCreateTasksOperator(
            task_id=f"upload_round_{round_number}", pool_id=create_relabel_pool.output,
            tasks_path=RUN_FOLDER + f"/relabel_round_{round_number}.jsonl",
        )
        run_round = TolokaOpenPoolOperator(
            task_id=f"run_round_{round_number}", pool_id=create_relabel_pool.output, wait_for_completion=True,
            deferrable=True, poll_interval=POOL_POLL_INTERVAL,
        )
        previous >> plan >> upload >> run_round
        previous = run_round

    fetch_main = TolokaGetAssignmentsOperator(
        task_id="fetch_main", pool_id=create_pool.output, statuses=["SUBMITTED"], use_data_interval=False,
        output=RUN_FOLDER + "/assignments_main.jsonl",
    )
    fetch_relabel = TolokaGetAssignmentsOperator(
        task_id="fetch_relabel", pool_id=create_relabel_pool.output, statuses=["SUBMITTED"],
        use_data_interval=False, output=RUN_FOLDER + "/assignments_relabel.jsonl",
    )
    previous >> [fetch_main, fetch_relabel]
    verdict = {
        "golden_accuracy_threshold": REVIEW_THRESHOLD,
        "reject_comment": "Too many wrong answers on control tasks; please read the instructions again.",
    }
    review_main = TolokaReviewAssignmentsOperator(
        task_id="review_main", pool_id=create_pool.output, assignments_path=RUN_FOLDER + "/assignments_main.jsonl",
        verdict=verdict,
    )
    # The relabel pool has no golden tasks: its workers were chosen by their skill, so their work is accepted.
    review_relabel = TolokaReviewAssignmentsOperator(
        task_id="review_relabel", pool_id=create_relabel_pool.output,
        assignments_path=RUN_FOLDER + "/assignments_relabel.jsonl", verdict="accept_all",
    )
    fetch_main >> review_main
    fetch_relabel >> review_relabel

    @task
    def merge_votes(main: dict, relabel: dict, stats_path: str, folder: str) -> dict:
        """votes.jsonl: both pools' assignments, every real task renamed to its ticket id (copies vote together).

        The votes of the workers banned for their golden accuracy do not count — except on a ticket that would
        otherwise have no vote at all (the relabel rounds ask those again, so this is a last resort): every
        ticket gets a label.
        """
        weak = weak_workers(stats_path)
        assignments = [a for fetched in (main, relabel) for a in _read_jsonl(fetched["path"])]
        for assignment in assignments:
            for item in assignment.get("tasks") or []:
                if not item.get("known_solutions"):
                    item["id"] = str((item.get("input_values") or {}).get("ticket_id") or item["id"])
        counted = {
            item["id"] for a in assignments if str(a.get("user_id")) not in weak
            for item in a.get("tasks") or [] if not item.get("known_solutions")
        }
        path = ObjectStoragePath(folder) / "votes.jsonl"
        count = fallback = 0
        with path.open("w", encoding="utf-8") as out:
            for assignment in assignments:
                if str(assignment.get("user_id")) in weak:
                    pairs = [
                        (item, solution)
                        for item, solution in zip(assignment.get("tasks") or [], assignment.get("solutions") or [],
                                                  strict=False)
                        if not item.get("known_solutions") and item["id"] not in counted
                    ]
                    if not pairs:
                        continue
                    fallback += len(pairs)
                    assignment = {**assignment, "tasks": [p[0] for p in pairs], "solutions": [p[1] for p in pairs]}
                out.write(json.dumps(assignment, ensure_ascii=False) + "\n")
                count += 1
        if fallback:
            log.warning("%d answers of banned workers kept: their tickets had no other vote", fallback)
        return {"path": str(path), "count": count, "banned_votes_kept": fallback}

    votes = merge_votes(fetch_main.output, fetch_relabel.output, stats, RUN_FOLDER)
    aggregate = TolokaAggregateLocallyOperator(
        task_id="aggregate", assignments_path=RUN_FOLDER + "/votes.jsonl", method="dawid_skene", fields=["label"],
        output=RUN_FOLDER + "/aggregated.jsonl",
    )
    votes >> aggregate
    # --8<-- [start:bonuses]
    bonuses = TolokaCreateBonusesOperator(
        task_id="pay_bonuses", statistics_path=stats, top_n=BONUS_TOP_N, amount=BONUS_AMOUNT, max_total=BONUS_CAP,
        min_golden=MIN_GOLDEN, min_accuracy=0.9, public_title="Thank you",
        public_message="You were among the most accurate workers on our support tickets.",
    )
    [review_main, review_relabel] >> bonuses
    # --8<-- [end:bonuses]

    @task
    def write_labels(folder: str, aggregated: dict, before: str, **context) -> dict:
        rows = [
            {
                "ticket_id": item["task_id"],
                "input_values": item.get("input_values") or {},
                "label": (item.get("output_values") or {}).get("label"),
                "confidence": round(float(item.get("confidence") or 0.0), 4),
                "votes": item.get("votes"),
            }
            for item in _read_jsonl(aggregated["path"])
        ]
        rows.sort(key=lambda row: row["ticket_id"])
        base = ObjectStoragePath(folder)
        (base / "labels.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        ti = context["ti"]
        after = TolokaHook().get_conn().get_requester().balance
        summary = {
            "run_id": context["run_id"],
            "project_id": ti.xcom_pull(task_ids="create_project"),
            "pool_id": ti.xcom_pull(task_ids="create_pool"),
            "relabel_pool_id": ti.xcom_pull(task_ids="create_relabel_pool"),
            "banned": ti.xcom_pull(task_ids="ban_spammers"),
            "skill": ti.xcom_pull(task_ids="set_skill"),
            "relabel_rounds": [ti.xcom_pull(task_ids=f"plan_round_{n}") for n in range(1, RELABEL_ROUNDS + 1)],
            "review": {"main": ti.xcom_pull(task_ids="review_main"), "relabel": ti.xcom_pull(task_ids="review_relabel")},
            "bonuses": ti.xcom_pull(task_ids="pay_bonuses"),
            "labels": len(rows),
            "spent": str(Decimal(before) - after),
        }
        (base / "run_summary.json").write_text(json.dumps(summary, indent=2, default=str))
        log.info("Wrote %d labels; spent %s USD", len(rows), summary["spent"])
        return {"folder": folder, "count": len(rows), "spent": summary["spent"]}

    labels = write_labels(RUN_FOLDER, aggregate.output, start_balance)
    [bonuses, aggregate] >> labels
