"""The simulated crowd: the one actor that changes the emulator's world on its own (workers doing the tasks of
open pools and App batches, pool upkeep on the emulator clock), and the acts asked of it from outside (bulk
loads, a worker writing to the requester). How it works is in the :class:`Crowd` docstring."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from toloka_provider.emulator import apps, messages, quality
from toloka_provider.emulator.errors import ApiError, does_not_exist
from toloka_provider.emulator.state import State, format_datetime, parse_datetime
from toloka_provider.emulator.truth import TruthTable, hash_unit, load_truth
from toloka_provider.emulator.workers import Answerer, Worker, is_known_user, make_workers

log = logging.getLogger(__name__)

__all__ = ["Crowd", "Worker", "bulk_load_assignments", "make_workers"]

TICK_SECONDS = 0.02
DEFAULT_AUTO_ACCEPT_DAYS = 21
# At most this many seconds of unused speed are saved up, so that a paused or idle crowd does not burst.
_MAX_SAVED_SECONDS = 0.25


def _wire_reward(value: Any) -> Any:
    """The pool's reward as it goes on the wire (keep what the pool holds: number or numeric string)."""
    return value if value is not None else 0


@dataclass
class _Unit:
    """One thing a worker can be given: a task of a mixer pool, or a whole task suite."""

    object_id: str
    golden: bool
    done_by: set[int] = field(default_factory=set)
    issued: int = 0


class _PoolWork:
    """The crowd's bookkeeping for one pool: which tasks exist, who did what, what is still ACTIVE."""

    def __init__(self, pool_id: str) -> None:
        self.pool_id = pool_id
        self.issued = 0  # assignments the crowd created in this pool: the n that keys the n-th one's draws
        self.units: dict[str, _Unit] = {}
        self.real_queue: list[str] = []  # real unit ids in creation order, exhausted ones dropped lazily
        self.golden: list[str] = []
        self.synced_tasks = 0
        self.synced_suites = 0
        self.suite_mode = False
        self.active: list[str] = []  # assignment ids created ACTIVE, submitted on the next tick
        self.complete_since: datetime | None = None
        self.stuck_version: Any = -1  # (unit count, eligibility key) at which no worker could take anything


def bulk_load_assignments(state: State, pool_id: str, count: int, status: str = "SUBMITTED") -> dict:
    """Add ``count`` synthetic assignments to a pool, fast (for benchmarks): 5 tasks + 5 solutions each,
    each suite of 5 tasks done by 3 workers (``bulk-worker-0..99``). No balance is charged; the tasks and
    suites are not stored as objects of their own."""
    if status not in ("ACTIVE", "SUBMITTED", "ACCEPTED", "REJECTED", "SKIPPED", "EXPIRED"):
        raise ValueError(f"unknown assignment status {status!r}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    with state.lock:
        pool = state.get("pools", pool_id)
        reward = pool.get("reward_per_assignment", 0.01)
        # Held compact (records.BulkBatch): about 0.2 KB per assignment instead of 1.6 KB of dicts.
        first_id, last_id = state.store_bulk_assignments(pool_id, count, status, reward)
        state.created["assignment"] += count
        return {"pool_id": pool_id, "created": count, "first_id": first_id, "last_id": last_id}


class Crowd:
    """The simulated crowd: workers that do the tasks of open pools, and the clock-driven pool upkeep.

    How the server uses it (see also ``state.py``)::

        crowd = Crowd(state)          # options come from state.options (seed, crowd, accuracy, spammers, speed, truth)
        crowd.start()                 # background thread; a tick every TICK_SECONDS
        crowd.pause() / crowd.resume()
        crowd.stop()                  # joins the thread
        crowd.run_once(budget=None)   # one synchronous tick (tests, and after /_emulator/clock/advance if wanted)

    The workers
        ``crowd`` workers with fixed user ids (32 hex digits derived from the seed). Each has an accuracy drawn
        uniformly from ``accuracy`` (lo, hi); ``round(spammers * crowd)`` of them are spammers who answer every
        field at random.

    Reproducibility: what the crowd does is a function of the seed and of the sequence of API calls, never of
    the wall clock, the machine's load or how the work falls into ticks
        * Who takes the n-th assignment of a pool, which golden task goes into it and how its tasks are shuffled
          are drawn from (seed, pool id, n) — not from a random stream that a tick with nothing to do, or a
          tick that ends earlier on a loaded machine, would advance differently.
        * Whether an answer is right (and which wrong or random value is sent) is drawn from (seed, worker, the
          task's input values, how many times that worker answered those input values before, field) — not from
          the task id, which changes when the same tasks are uploaded in another order (two upload tasks of one
          DAG that Airflow may run in either order), so the same tasks get the same answers either way.
        * The speed (a token bucket over real time) only decides when the assignments happen, not which.
        What still depends on timing is inherent: a ban, skill or new task that arrives while a pool is being
        worked applies from the assignment the crowd is at by then.

    Work in an open pool (regular pools only; trainings stay untouched: opening one is harmless)
        * Pools with task suites created by ``POST /task-suites`` are done suite by suite. Otherwise the mixer
          builds each suite from the pool's tasks as ``mixer_config`` says: up to ``real_tasks_count`` real tasks
          (tasks without ``known_solutions``), taken in creation order, plus up to ``golden_tasks_count`` golden
          tasks (with ``known_solutions``), then shuffled unless ``shuffle_tasks_in_task_suite`` is false.
        * Overlap: a task (or suite) gets at most ``overlap`` assignments (``infinite_overlap`` = no limit) and
          a worker never gets the same task twice. Rejected assignments still count (no re-issue).
        * Every field of the project's ``task_spec.output_spec`` is answered. Golden tasks are judged against
          their first known solution, real tasks against the truth file (``--truth``, see ``truth.py``) or
          the pseudo-truth. A worker is right with probability = its accuracy; a wrong answer is another
          allowed value.
        * Each assignment is created ACTIVE and submitted on the next tick, ``reward`` = the pool's
          ``reward_per_assignment``. The whole crowd starts at most ``speed`` assignments per second of real
          time (a token bucket; the emulator clock stamps the dates).

    Pool upkeep (every tick, also while the crowd is paused)
        * COMPLETED: when every counted task (real tasks with a finite overlap; or, in a pool of golden tasks
          only, those) has all its assignments and none is still ACTIVE, the pool closes COMPLETED once
          ``auto_close_after_complete_delay_seconds`` have passed on the emulator clock.
        * EXPIRED: an open pool whose ``will_expire`` is past on the emulator clock closes EXPIRED.
        * NOT_ENOUGH_BALANCE: before an assignment is issued, its reward plus the rewards of the crowd's
          assignments that are ACTIVE or SUBMITTED (not yet decided) must fit in the requester balance;
          otherwise the pool closes NOT_ENOUGH_BALANCE.
        * Acceptance, following the Toloka docs for ``auto_accept_solutions`` / ``auto_accept_period_day``:
          with ``auto_accept_solutions`` true (Toloka's default) an assignment is accepted as soon as it is
          submitted; with false it stays SUBMITTED for the requester to review, and is accepted automatically
          once ``auto_accept_period_day`` days (21 when unset) have passed on the emulator clock without a
          decision. Both go through ``State.decide_assignment``, the one place that charges the balance.
          Only the crowd's own assignments are tracked for auto-accept (not the benchmark's bulk-loaded ones).

    Apps batches that are PROCESSING are worked on by the same crowd (see ``apps.py``); they share the budget.

    A pool that makes the crowd fail (an absurd reward, a broken object put into the state) is logged with its
    traceback and closed with ``last_close_reason`` ``BLOCKED``; the other pools go on being worked.
    """

    def __init__(self, state: Any, options: Any = None, *, truth: TruthTable | None = None) -> None:
        self.state = state
        opts = options if options is not None else state.options
        self.seed = int(getattr(opts, "seed", 0))
        self.speed = float(getattr(opts, "speed", 200.0))
        if self.speed < 0:
            raise ValueError(f"speed must be >= 0 assignments per second, got {self.speed}")
        self.workers = make_workers(
            self.seed,
            int(getattr(opts, "crowd", 30)),
            tuple(getattr(opts, "accuracy", (0.55, 0.95))),
            float(getattr(opts, "spammers", 0.1)),
        )
        if truth is None:
            truth_path = getattr(opts, "truth", None)
            truth = load_truth(truth_path) if truth_path else TruthTable()
        self.truth = truth
        self._answerer = Answerer(self.seed, truth, self.workers)
        self._pools: dict[str, _PoolWork] = {}
        self._undecided: dict[str, tuple[str, Decimal]] = {}  # assignment id -> (pool id, reward)
        self._undecided_total = Decimal(0)
        self._review_queues: dict[str, deque[tuple[str, str]]] = {}  # pool -> (submitted, assignment id)
        self._expiry_cache: dict[str, datetime] = {}
        self._pending_solutions: dict[str, list[dict]] = {}  # ACTIVE assignment id -> what the worker sends
        self._budget = 0.0
        self._last_refill: float | None = None
        self._paused = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self._failures_logged: set[tuple[str, str]] = set()
        self._submitting = ""  # the pool _submit_active is on, to tell which one failed

    # ----------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="toloka-emulator-crowd", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.state.notify_changed()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def pause(self) -> None:
        """Workers stop taking and submitting assignments; upkeep (expiry, auto-accept, close) goes on."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()
        self._last_refill = None
        self.state.notify_changed()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:  # the crowd must outlive a bad object; the error is logged, not swallowed silently
                log.exception("crowd tick failed")
            self._stopping.wait(TICK_SECONDS)

    # --------------------------------------------------------------------------------------- ticks
    def run_once(self, budget: float | None = None) -> int:
        """One tick: upkeep, then (unless paused) submit the ACTIVE assignments and start new ones.

        ``budget`` is the number of assignments (and app items) to start; by default the token bucket
        decides from the real time since the last tick. Returns the number of assignments started.
        """
        state = self.state
        with state.lock:
            now = state.now()
            self.ticks += 1
            self._upkeep(now)
            if self.paused:
                return 0
            for _ in range(len(self._pools) + 1):
                try:
                    self._submit_active(now)
                    break
                except Exception:
                    # Close the pool it failed on and go on with the rest (pools done so far are empty).
                    failed = self._pools.get(self._submitting)
                    if failed is not None:
                        failed.active = []
                    self._pool_failed(self._submitting, "submitting assignments")
            units = self._refill() if budget is None else int(budget)
            started = 0
            if units > 0:
                open_pools = [pool for pool in state.pools.values() if pool.get("status") == "OPEN"]
                if open_pools:
                    started = self._work_pools(open_pools, units, now)
                items_done = 0
                if units > started:
                    try:
                        items_done = apps.work_batches(state, self, units - started, now)
                    except Exception:
                        self._pool_failed("(app batches)", "working on app batches", close=False)
                if budget is None:
                    self._budget -= started + items_done
            self._check_completion(now)
        return started

    def _refill(self) -> int:
        """Add the speed earned since the last tick to the bucket; the whole units in it are usable now."""
        moment = time.monotonic()
        if self._last_refill is not None:
            self._budget = min(
                self._budget + (moment - self._last_refill) * self.speed,
                max(self.speed * _MAX_SAVED_SECONDS, 1.0),
            )
        self._last_refill = moment
        return int(self._budget)

    # -------------------------------------------------------------------------------------- upkeep
    def _upkeep(self, now: datetime) -> None:
        state = self.state
        for pool in list(state.pools.values()):
            if pool.get("status") != "OPEN":
                continue
            try:
                expires = self._will_expire(pool)
                if expires is not None and expires <= now:
                    log.info("pool %s expired at %s", pool["id"], format_datetime(expires))
                    state.set_pool_status("pools", pool["id"], "CLOSED", "EXPIRED")
            except Exception:
                self._pool_failed(str(pool.get("id")), "checking expiry")
        self._auto_accept(now)

    def _pool_failed(self, pool_id: str, phase: str, *, close: bool = True) -> None:
        """Called in an ``except`` block: log the failure with its traceback and close the pool (BLOCKED),
        so that one bad pool never stops the crowd for the others. A failure that closing cannot stop
        (auto-accept goes on in closed pools) is logged once per pool and phase."""
        key = (pool_id, phase)
        if close or key not in self._failures_logged:
            self._failures_logged.add(key)
            log.exception("crowd: pool %s failed while %s%s", pool_id, phase, "; closing it" if close else "")
        if not close:
            return
        try:
            pool = self.state.pools.get(pool_id)
            if pool is not None and pool.get("status") == "OPEN":
                self.state.set_pool_status("pools", pool_id, "CLOSED", "BLOCKED")
        except Exception:
            log.exception("crowd: pool %s could not be closed", pool_id)

    def _will_expire(self, pool: Mapping[str, Any]) -> datetime | None:
        text = pool.get("will_expire")
        if not text:
            return None
        cached = self._expiry_cache.get(text)
        if cached is None:
            try:
                cached = parse_datetime(str(text))
            except ValueError:
                return None
            self._expiry_cache[text] = cached
        return cached

    def _auto_accept(self, now: datetime) -> None:
        state = self.state
        for pool_id, queue in self._review_queues.items():
            if not queue:
                continue
            try:
                pool = state.pools.get(pool_id) or {}
                days = pool.get("auto_accept_period_day") or DEFAULT_AUTO_ACCEPT_DAYS
                deadline = format_datetime(now - timedelta(days=float(days)))
                while queue and queue[0][0] <= deadline:
                    submitted, assignment_id = queue.popleft()
                    assignment = state.assignments.get(assignment_id)
                    if assignment is not None and assignment.get("status") == "SUBMITTED":
                        try:
                            state.decide_assignment(assignment_id, "ACCEPTED")
                        except ApiError as error:
                            if error.code != "NOT_ENOUGH_BALANCE":
                                raise
                            # Spent elsewhere (bonuses) meanwhile: it waits, SUBMITTED, for money to come.
                            queue.appendleft((submitted, assignment_id))
                            break
                    self._forget_undecided(assignment_id)
            except Exception:
                self._pool_failed(pool_id, "auto-accepting", close=False)

    # ---------------------------------------------------------------------------------- the money
    def _forget_undecided(self, assignment_id: str) -> None:
        entry = self._undecided.pop(assignment_id, None)
        if entry is not None:
            self._undecided_total -= entry[1]

    def _can_afford(self, reward: Decimal) -> bool:
        balance = self.state.balance
        if balance - self._undecided_total >= reward:
            return True
        # The running total may hold assignments the requester has decided since: recount exactly.
        assignments = self.state.assignments
        for assignment_id in list(self._undecided):
            current = assignments.get(assignment_id)
            if current is None or current.get("status") not in ("ACTIVE", "SUBMITTED"):
                self._forget_undecided(assignment_id)
        return balance - self._undecided_total >= reward

    # ---------------------------------------------------------------------------------- pool work
    def _pool_work(self, pool_id: str) -> _PoolWork:
        work = self._pools.get(pool_id)
        if work is None:
            work = self._pools[pool_id] = _PoolWork(pool_id)
        return work

    def _sync(self, work: _PoolWork) -> None:
        """Pick up tasks and task suites added to the pool since the last tick."""
        state = self.state
        suite_ids = state.pool_index("task_suites", work.pool_id)
        if len(suite_ids) > work.synced_suites:
            work.suite_mode = True
            for suite_id in suite_ids[work.synced_suites :]:
                suite = state.task_suites.get(suite_id) or {}
                golden = all(task.get("known_solutions") for task in suite.get("tasks") or ()) and bool(
                    suite.get("tasks")
                )
                self._add_unit(work, suite_id, golden)
            work.synced_suites = len(suite_ids)
        if work.suite_mode:
            return
        task_ids = state.pool_index("tasks", work.pool_id)
        if len(task_ids) > work.synced_tasks:
            for task_id in task_ids[work.synced_tasks :]:
                task = state.tasks.get(task_id) or {}
                self._add_unit(work, task_id, bool(task.get("known_solutions")))
            work.synced_tasks = len(task_ids)

    @staticmethod
    def _add_unit(work: _PoolWork, object_id: str, golden: bool) -> None:
        if object_id in work.units:
            return
        work.units[object_id] = _Unit(object_id, golden)
        (work.golden if golden else work.real_queue).append(object_id)
        work.complete_since = None
        work.stuck_version = -1

    def _overlap(self, obj: Mapping[str, Any], pool: Mapping[str, Any], suite_mode: bool) -> int | None:
        """The overlap of a task or suite; None = infinite."""
        if obj.get("infinite_overlap"):
            return None
        overlap = obj.get("overlap")
        if overlap is None:
            defaults = pool.get("defaults") or {}
            key = "default_overlap_for_new_task_suites" if suite_mode else "default_overlap_for_new_tasks"
            overlap = defaults.get(key) or defaults.get("default_overlap_for_new_task_suites") or 1
        return int(overlap)

    def _remaining(self, work: _PoolWork, unit: _Unit, pool: Mapping[str, Any]) -> float:
        kind = self.state.task_suites if work.suite_mode else self.state.tasks
        overlap = self._overlap(kind.get(unit.object_id) or {}, pool, work.suite_mode)
        return float("inf") if overlap is None else overlap - unit.issued

    def _work_pools(self, open_pools: list[dict], units: int, now: datetime) -> int:
        """Start up to ``units`` assignments, spread round-robin over the open pools."""
        started = 0
        active_pools = list(open_pools)
        while units > started and active_pools:
            still_busy = []
            for pool in active_pools:
                if units <= started:
                    break
                if pool.get("status") != "OPEN":
                    continue
                try:
                    outcome = self._start_one(pool, now)
                except Exception:
                    self._pool_failed(str(pool.get("id")), "starting an assignment")
                    continue
                if outcome:
                    started += 1
                    still_busy.append(pool)
            active_pools = still_busy
        return started

    def _start_one(self, pool: dict, now: datetime) -> bool:
        """Issue one assignment in ``pool``; False when nobody can take anything now."""
        work = self._pool_work(pool["id"])
        self._sync(work)
        # Nobody could take anything: retry only when tasks were added or who may work has changed.
        stuck_key = (len(work.units), quality.eligibility_key(self.state, now))
        if work.stuck_version == stuck_key:
            return False
        reward = Decimal(str(pool.get("reward_per_assignment") or 0))
        picked = self._pick(work, pool, now)
        if picked is None:
            work.stuck_version = stuck_key
            return False
        if not self._can_afford(reward):
            log.info("pool %s: balance %s cannot pay the next assignment", pool["id"], self.state.balance)
            self.state.set_pool_status("pools", pool["id"], "CLOSED", "NOT_ENOUGH_BALANCE")
            return False
        worker, unit_ids = picked
        self._create_assignment(work, pool, worker, unit_ids, reward, now)
        return True

    def _pick(self, work: _PoolWork, pool: dict, now: datetime) -> tuple[Worker, list[str]] | None:
        if not self.workers or not work.units:
            return None
        count = len(self.workers)
        # Keyed on the assignment's number in the pool: a pick that finds nobody draws nothing from a stream.
        first = min(int(hash_unit(self.seed, "pick", work.pool_id, work.issued) * count), count - 1)
        for step in range(count):
            worker = self.workers[(first + step) % count]
            # Bans in force for this pool, and the pool's filter (skills, profile), decide who may work.
            if not quality.may_work(self.state, worker.user_id, pool, now):
                continue
            unit_ids = self._suite_for(work, pool, worker)
            if unit_ids:
                return worker, unit_ids
        return None

    def _suite_for(self, work: _PoolWork, pool: Mapping[str, Any], worker: Worker) -> list[str]:
        mixer = pool.get("mixer_config") or {}
        if work.suite_mode:
            real_wanted, golden_wanted = 1, 0
        else:
            real_wanted = int(mixer.get("real_tasks_count") or 0)
            golden_wanted = int(mixer.get("golden_tasks_count") or 0)
            if real_wanted == 0 and golden_wanted == 0:
                real_wanted = 1
        chosen: list[str] = []
        if real_wanted:
            queue = work.real_queue
            used_up_at_head = 0
            seen_open = False
            for unit_id in queue:
                unit = work.units[unit_id]
                if self._remaining(work, unit, pool) <= 0:
                    if not seen_open:
                        used_up_at_head += 1
                    continue
                seen_open = True
                if worker.index in unit.done_by:
                    continue
                chosen.append(unit_id)
                if len(chosen) >= real_wanted:
                    break
            if used_up_at_head:
                # Units are filled front first, so used-up ones gather at the head: scanning stays short.
                del queue[:used_up_at_head]
            if not chosen and len(work.units) > len(work.golden):
                # Real tasks exist but none for this worker: no golden-only suites, or the pool never ends.
                return []
        if golden_wanted and work.golden:
            candidates = work.golden
            start = min(
                int(hash_unit(self.seed, "golden", work.pool_id, work.issued, worker.index) * len(candidates)),
                len(candidates) - 1,
            )
            picked_golden = []
            for step in range(len(candidates)):
                unit = work.units[candidates[(start + step) % len(candidates)]]
                if worker.index in unit.done_by or self._remaining(work, unit, pool) <= 0:
                    continue
                picked_golden.append(unit.object_id)
                if len(picked_golden) >= golden_wanted:
                    break
            if not chosen and not picked_golden:
                return []
            chosen.extend(picked_golden)
        if len(chosen) > 1 and mixer.get("shuffle_tasks_in_task_suite", True) and not work.suite_mode:
            random.Random(f"{self.seed}:{work.pool_id}:{work.issued}:shuffle").shuffle(chosen)
        return chosen

    def _create_assignment(
        self, work: _PoolWork, pool: dict, worker: Worker, unit_ids: list[str], reward: Decimal, now: datetime
    ) -> None:
        state = self.state
        project = state.projects.get(str(pool.get("project_id"))) or {}
        output_spec = ((project.get("task_spec") or {}).get("output_spec")) or {}
        if work.suite_mode:
            suite = state.task_suites[unit_ids[0]]
            suite_id = suite["id"]
            tasks = [dict(task) for task in suite.get("tasks") or ()]
            mixed = False
        else:
            suite_id = state.new_id("task_suites")
            tasks = []
            for task_id in unit_ids:
                task = state.tasks[task_id]
                view = {"id": task_id, "input_values": task.get("input_values") or {}}
                if task.get("known_solutions"):
                    view["known_solutions"] = task["known_solutions"]
                tasks.append(view)
            mixed = True
        solutions = [{"output_values": self.answer(worker, task, output_spec)} for task in tasks]
        work.issued += 1
        for unit_id in unit_ids:
            unit = work.units[unit_id]
            unit.issued += 1
            unit.done_by.add(worker.index)
            self._update_remaining_overlap(work, unit, pool)
        stamp = format_datetime(now)
        assignment = {
            "task_suite_id": suite_id,
            "pool_id": pool["id"],
            "user_id": worker.user_id,
            "status": "ACTIVE",
            "reward": _wire_reward(pool.get("reward_per_assignment")),
            "tasks": tasks,
            "automerged": False,
            "mixed": mixed,
            "created": stamp,
            "owner": {"id": state.requester_id, "myself": True},
        }
        state.create("assignments", assignment)
        state.emit(
            "ASSIGNMENT_CREATED", pool_id=pool["id"], assignment_id=assignment["id"], task_suite_id=suite_id
        )
        work.active.append(assignment["id"])
        self._pending_solutions[assignment["id"]] = solutions
        self._undecided[assignment["id"]] = (pool["id"], reward)
        self._undecided_total += reward

    def _update_remaining_overlap(self, work: _PoolWork, unit: _Unit, pool: Mapping[str, Any]) -> None:
        kind = self.state.task_suites if work.suite_mode else self.state.tasks
        obj = kind.get(unit.object_id)
        if obj is None:
            return
        overlap = self._overlap(obj, pool, work.suite_mode)
        if overlap is not None:
            obj["remaining_overlap"] = max(overlap - unit.issued, 0)

    def _submit_active(self, now: datetime) -> None:
        state = self.state
        stamp = format_datetime(now)
        for pool_id, work in self._pools.items():
            if not work.active:
                continue
            self._submitting = pool_id
            pool = state.pools.get(pool_id) or {}
            auto_accept = pool.get("auto_accept_solutions", True) is not False
            queue = self._review_queues.setdefault(pool_id, deque())
            for assignment_id in work.active:
                assignment = state.assignments.get(assignment_id)
                if assignment is None or assignment.get("status") != "ACTIVE":
                    continue
                assignment["solutions"] = self._pending_solutions.pop(assignment_id, [])
                assignment["status"] = "SUBMITTED"
                assignment["submitted"] = stamp
                state.emit(
                    "ASSIGNMENT_SUBMITTED",
                    pool_id=pool_id,
                    assignment_id=assignment_id,
                    task_suite_id=assignment.get("task_suite_id"),
                )
                if auto_accept:
                    state.decide_assignment(assignment_id, "ACCEPTED")
                    self._forget_undecided(assignment_id)
                else:
                    queue.append((stamp, assignment_id))
            work.active = []
            state.notify_changed()

    def _check_completion(self, now: datetime) -> None:
        state = self.state
        for pool_id, work in self._pools.items():
            pool = state.pools.get(pool_id)
            if pool is None or pool.get("status") != "OPEN":
                work.complete_since = None
                continue
            if not work.units or work.active:
                continue
            try:
                self._sync(work)
                counted = [unit for unit in work.units.values() if not unit.golden] or list(work.units.values())
                if any(self._remaining(work, unit, pool) > 0 for unit in counted):
                    work.complete_since = None
                    continue
                if work.complete_since is None:
                    work.complete_since = now
                delay = float(pool.get("auto_close_after_complete_delay_seconds") or 0)
                if now >= work.complete_since + timedelta(seconds=delay):
                    log.info("pool %s completed: closing", pool_id)
                    state.set_pool_status("pools", pool_id, "CLOSED", "COMPLETED")
                    work.complete_since = None
            except Exception:
                self._pool_failed(pool_id, "checking completion")

    # ------------------------------------------------------------------------- acts asked for from outside
    def bulk_load(self, pool_id: str, count: int, status: str = "SUBMITTED") -> dict:
        """Add ``count`` synthetic assignments to a pool at once (see :func:`bulk_load_assignments`)."""
        return bulk_load_assignments(self.state, pool_id, count, status)

    def worker_writes(self, user_id: str, body: dict) -> dict:
        """A worker of the crowd (or a bulk-loaded one) writes to the requester (``messages.worker_writes``);
        404 DOES_NOT_EXIST for a user id the emulator does not know."""
        with self.state.lock:
            if not is_known_user(self.state, user_id):
                raise does_not_exist("user", user_id)
            return messages.worker_writes(self.state, user_id, body)

    # --------------------------------------------------------------------------------------- answers
    def answer(self, worker: Worker, task: Mapping[str, Any], output_spec: Mapping[str, Any]) -> dict:
        """The output values ``worker`` submits for ``task`` (see ``workers.Answerer``)."""
        return self._answerer.answer(worker, task, output_spec)
