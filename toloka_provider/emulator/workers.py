"""The crowd's workers: who they are (ids, accuracies, spammers, profiles, all derived from the seed), which
user ids the emulator knows, and what a worker answers for a task (:class:`Answerer`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toloka_provider.emulator.state import State
from toloka_provider.emulator.truth import TruthTable, hash_unit, load_truth, random_value, wrong_value

__all__ = ["Answerer", "Worker", "is_known_user", "make_workers", "unknown_user_error", "worker_profiles"]


@dataclass(frozen=True)
class Worker:
    index: int
    user_id: str
    accuracy: float
    spammer: bool


def make_workers(seed: int, count: int, accuracy: tuple[float, float], spammers: float) -> list[Worker]:
    """The crowd for a seed: fixed user ids, accuracies in [lo, hi], ``round(spammers*count)`` spammers."""
    if count < 0:
        raise ValueError(f"crowd must be >= 0 workers, got {count}")
    lo, hi = float(accuracy[0]), float(accuracy[1])
    if not (0.0 <= lo <= hi <= 1.0):
        raise ValueError(f"accuracy must be (lo, hi) with 0 <= lo <= hi <= 1, got {accuracy!r}")
    if not 0.0 <= spammers <= 1.0:
        raise ValueError(f"spammers must be a fraction in [0, 1], got {spammers!r}")
    spammer_count = round(spammers * count)
    by_spam_draw = sorted(range(count), key=lambda index: hash_unit(seed, "spammer", index))
    spammer_indexes = set(by_spam_draw[:spammer_count])
    workers = []
    for index in range(count):
        user_id = hashlib.md5(f"toloka-emulator-worker:{seed}:{index}".encode()).hexdigest()
        worker_accuracy = lo + (hi - lo) * hash_unit(seed, "accuracy", index)
        workers.append(Worker(index, user_id, worker_accuracy, index in spammer_indexes))
    return workers


def _content_key(input_values: Mapping[str, Any]) -> str:
    """A short stable key of a task's input values (the same values in any key order give the same key)."""
    text = json.dumps(input_values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


_COUNTRIES = ("US", "IN", "DE", "BR", "ID", "PH", "KE", "TR")
_EXTRA_LANGUAGES = ("ES", "FR", "DE", "HI", "PT", "ID")
_CLIENTS = (
    ("BROWSER", "DESKTOP", "WINDOWS"),
    ("TOLOKA_APP", "SMARTPHONE", "ANDROID"),
    ("TOLOKA_APP", "SMARTPHONE", "IOS"),
)


def worker_profiles(state: Any) -> dict[str, dict]:
    """user id -> the crowd worker's record: ``index``, ``accuracy``, ``spammer`` and ``metadata``
    (the ``UserMetadata`` wire form). Derived from the seed, the same on every run."""
    book = state.quality_book
    if book.profiles is None:
        options = state.options
        workers = make_workers(
            int(options.seed), int(options.crowd), tuple(options.accuracy), float(options.spammers)
        )
        profiles = {}
        for worker in workers:
            seed, index = options.seed, worker.index
            country = _COUNTRIES[int(hash_unit(seed, "country", index) * len(_COUNTRIES)) % len(_COUNTRIES)]
            languages = ["EN"]
            if hash_unit(seed, "bilingual", index) < 0.5:
                extra = _EXTRA_LANGUAGES[int(hash_unit(seed, "language", index) * len(_EXTRA_LANGUAGES)) % 6]
                languages.append(extra)
            client_type, device, os_family = _CLIENTS[int(hash_unit(seed, "client", index) * 3) % 3]
            metadata = {
                "id": worker.user_id,
                "country": country,
                "languages": languages,
                "adult_allowed": hash_unit(seed, "adult", index) < 0.7,
                "attributes": {
                    "country_by_phone": country,
                    "country_by_ip": country,
                    "client_type": client_type,
                    "user_agent_type": "BROWSER" if client_type == "BROWSER" else "OTHER",
                    "device_category": device,
                    "os_family": os_family,
                    "os_version": 10.0,
                    "os_version_major": 10,
                    "os_version_minor": 0,
                    "os_version_bugfix": 0,
                },
            }
            profiles[worker.user_id] = {
                "index": index,
                "accuracy": worker.accuracy,
                "spammer": worker.spammer,
                "metadata": metadata,
            }
        book.profiles = profiles
    return book.profiles


class Answerer:
    """What the workers of a seed answer: right with the worker's accuracy, against the truth table.

    The draws depend on the task's input values and on how many times this worker answered them before (a copy
    of a task asked again gets a fresh draw), never on the task's id or on timing."""

    def __init__(self, seed: int, truth: TruthTable, workers: list[Worker]) -> None:
        self.seed = seed
        self.truth = truth
        self.workers = workers
        self.answered: dict[tuple[int, str], int] = {}  # (worker, input values key) -> answers given so far

    @classmethod
    def for_options(cls, options: Any) -> Answerer:
        """An answerer for the emulator's options (seed, and the truth file when there is one)."""
        seed = int(getattr(options, "seed", 0))
        truth_path = getattr(options, "truth", None)
        workers = make_workers(
            seed,
            int(getattr(options, "crowd", 30)),
            tuple(getattr(options, "accuracy", (0.55, 0.95))),
            float(getattr(options, "spammers", 0.1)),
        )
        return cls(seed, load_truth(truth_path) if truth_path else TruthTable(), workers)

    def answer(self, worker: Worker, task: Mapping[str, Any], output_spec: Mapping[str, Any]) -> dict:
        """The output values ``worker`` submits for ``task`` (every field of the output spec).

        Drawn from the task's input values and how many times this worker answered them before (a copy of a
        task asked again gets a fresh draw), not from its id: see "Reproducibility" above."""
        input_values = task.get("input_values") or {}
        known = task.get("known_solutions") or []
        known_values = (known[0].get("output_values") or {}) if known else {}
        content = _content_key(input_values) if input_values else f"id:{task.get('id')}"
        seen = self.answered.get((worker.index, content), 0)
        self.answered[(worker.index, content)] = seen + 1
        task_key = content if seen == 0 else f"{content}#{seen}"
        answer = {}
        for field_name, spec in output_spec.items():
            spec = spec or {}
            if worker.spammer:
                answer[field_name] = random_value(spec, self.seed, worker.index, task_key, field_name)
                continue
            if field_name in known_values:
                correct = known_values[field_name]
            else:
                correct = self.truth.correct_value(input_values, field_name, spec)
            if hash_unit(self.seed, "right", worker.index, task_key, field_name) < worker.accuracy:
                answer[field_name] = correct
            else:
                answer[field_name] = wrong_value(correct, spec, self.seed, worker.index, task_key, field_name)
        return answer


def unknown_user_error(user_id: Any) -> dict:
    """The field error for a user id nobody has (the payload of a 400 VALIDATION_ERROR)."""
    return {
        "code": "ENTITY_DOES_NOT_EXIST",
        "message": f"no user with id {str(user_id)[:100]!r}: not a worker of this emulator's crowd",
    }


def is_known_user(state: State, user_id: str) -> bool:
    """Whether ``user_id`` is someone the emulator knows: a worker of its crowd, or the author of an assignment
    (a bulk-loaded one included)."""
    return user_id in worker_profiles(state) or user_id in state.users
