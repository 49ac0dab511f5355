"""Issue #14, acceptance 2: worker quality control, webhooks and the assignments table, driven over HTTP by
our client (``TolokaClient``) against the emulator and its simulated crowd.

* Skills set from golden accuracy change which workers the crowd sends (a pool filtered on the skill).
* A ban stops a worker's work (until it expires on the emulator clock, or is deleted).
* A webhook receiver on loopback (a small ``http.server`` here) gets POOL_CLOSED and ASSIGNMENT_SUBMITTED, signed.
* ``get_assignments_df`` (pandas, when installed) and ``iter_assignments_table`` (no pandas) give one row per task
  per assignment.
* Bonuses and messages reach the worker's record.
* ``clone_project`` (training requirement re-pointed), the ``*_async`` actions, a task suite's overlap patch,
  and the rest of the Apps API (apps, items, batch patch / stop / resume / archive, sync batches).

Waits poll with generous deadlines; the crowd runs fast, so each test takes a few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from toloka_provider.client import TolokaClient

pytestmark = pytest.mark.integration

LABELS = ["pos", "neg", "neu"]
PROJECT = {
    "public_name": "Sentiment",
    "task_spec": {
        "input_spec": {"text": {"type": "string", "required": True}},
        "output_spec": {"label": {"type": "string", "required": True, "allowed_values": LABELS}},
    },
    "assignments_issuing_type": "AUTOMATED",
}


def _wait(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} not reached in {timeout}s"
        time.sleep(0.05)
    return result


def _pool(client: TolokaClient, project_id: str, *, overlap: int, **fields) -> str:
    body = {
        "project_id": project_id,
        "private_name": "pool",
        "reward_per_assignment": Decimal("0.01"),
        "assignment_max_duration_seconds": 600,
        "will_expire": "2099-01-01T00:00:00",
        "auto_accept_solutions": False,
        "defaults": {
            "default_overlap_for_new_task_suites": overlap,
            "default_overlap_for_new_tasks": overlap,
        },
        "mixer_config": {"real_tasks_count": 1, "golden_tasks_count": 0, "training_tasks_count": 0},
        **fields,
    }
    return client.create_pool(body).id


def _add_tasks(client: TolokaClient, pool_id: str, count: int, overlap: int, golden: bool = False) -> None:
    tasks = []
    for i in range(count):
        task = {
            "pool_id": pool_id,
            "input_values": {"text": f"{'golden' if golden else 'text'} {i}"},
            "overlap": overlap,
        }
        if golden:
            task["known_solutions"] = [{"output_values": {"label": LABELS[i % 3]}, "correctness_weight": 1}]
        tasks.append(task)
    result = client.create_tasks(tasks)
    assert len(result.items) == count and not result.validation_errors


def _closed(client: TolokaClient, pool_id: str) -> str:
    pool = _wait(
        lambda: (p := client.get_pool(pool_id)).status.value != "OPEN" and p, what=f"pool {pool_id} closed"
    )
    return pool.last_close_reason.value


def _settled(client: TolokaClient, pool_id: str, expected: int, hold: float = 0.3) -> list:
    """The pool's assignments once it holds ``expected`` of them, none ACTIVE, and the crowd adds no more for
    ``hold`` seconds (nobody left who may work)."""

    def ready():
        found = list(client.get_assignments(pool_id=pool_id))
        return len(found) >= expected and not any(a.status.value == "ACTIVE" for a in found) and found

    current = _wait(ready, what=f"{expected} assignments in pool {pool_id}")
    time.sleep(hold)
    again = list(client.get_assignments(pool_id=pool_id))
    assert len(current) == len(again) == expected
    return again


def _control(emulator, method: str, path: str, **kwargs):
    response = requests.request(method, emulator.url + path, timeout=10, **kwargs)
    assert response.status_code in (200, 201), response.text[:300]
    return response.json()


@pytest.fixture
def world(toloka_emulator_factory):
    emulator = toloka_emulator_factory(seed=11, crowd=8, speed=3000.0, accuracy=(0.35, 0.97), spammers=0.25)
    client = TolokaClient(emulator.token, url=emulator.url, retries=2, timeout=10)
    project_id = client.create_project(PROJECT).id
    return emulator, client, project_id


def test_skills_from_golden_accuracy_change_which_workers_work(world):
    _emulator, client, project_id = world
    # An exam pool of golden tasks only: every worker answers all 30.
    exam = _pool(
        client,
        project_id,
        overlap=8,
        mixer_config={"real_tasks_count": 0, "golden_tasks_count": 1, "training_tasks_count": 0},
    )
    _add_tasks(client, exam, 30, overlap=8, golden=True)
    client.open_pool(exam)
    assert _closed(client, exam) == "COMPLETED"

    # Accuracy on the golden tasks, per worker, becomes a skill value.
    right, seen = defaultdict(int), defaultdict(int)
    for assignment in client.get_assignments(pool_id=exam):
        for task, solution in zip(assignment.tasks, assignment.solutions, strict=True):
            seen[assignment.user_id] += 1
            right[assignment.user_id] += solution.output_values == task.known_solutions[0]["output_values"]
    assert len(seen) == 8 and set(seen.values()) == {30}
    skill = client.create_skill({"name": "golden accuracy", "hidden": True})
    scores = {user_id: Decimal(100 * right[user_id]) / seen[user_id] for user_id in seen}
    for user_id, score in scores.items():
        client.set_user_skill(skill_id=skill.id, user_id=user_id, value=score.quantize(Decimal("0.01")))
    assert {s.user_id: s.exact_value for s in client.get_user_skills(skill_id=skill.id)} == {
        u: s.quantize(Decimal("0.01")) for u, s in scores.items()
    }
    good = {user_id for user_id, score in scores.items() if score >= 70}
    assert 2 <= len(good) < 8, scores

    work = _pool(
        client,
        project_id,
        overlap=2,
        filter={"and": [{"or": [{"category": "skill", "key": skill.id, "operator": "GTE", "value": 70}]}]},
    )
    _add_tasks(client, work, 20, overlap=2)
    client.open_pool(work)
    assert _closed(client, work) == "COMPLETED"
    assert {a.user_id for a in client.get_assignments(pool_id=work)} == good


def test_a_ban_stops_a_workers_work_until_it_expires_or_is_lifted(world):
    emulator, client, project_id = world
    banned = _control(emulator, "GET", "/_emulator/workers")["items"][0]["user_id"]
    pool_id = _pool(client, project_id, overlap=8)
    _add_tasks(client, pool_id, 5, overlap=8)
    assert client.get_user(banned).id == banned  # a crowd worker the API knows
    clock = datetime.fromisoformat(_control(emulator, "GET", "/_emulator/health")["now"]).replace(
        tzinfo=timezone.utc
    )
    until = clock + timedelta(hours=1)
    restriction = client.set_user_restriction(
        {"scope": "ALL_PROJECTS", "user_id": banned, "private_comment": "too fast", "will_expire": until}
    )
    assert restriction.scope.value == "ALL_PROJECTS" and restriction.id
    assert [r.id for r in client.get_user_restrictions(user_id=banned)] == [restriction.id]
    client.open_pool(pool_id)
    quiet = _settled(client, pool_id, 35)
    assert banned not in {a.user_id for a in quiet}
    assert client.get_pool(pool_id).status.value == "OPEN"

    emulator.advance_clock(3601)
    assert _closed(client, pool_id) == "COMPLETED"
    assert sum(a.user_id == banned for a in client.get_assignments(pool_id=pool_id)) == 5

    # A pool ban without an end, lifted by deleting it.
    second = _pool(client, project_id, overlap=8)
    _add_tasks(client, second, 3, overlap=8)
    pool_ban = client.set_user_restriction({"scope": "POOL", "user_id": banned, "pool_id": second})
    client.open_pool(second)
    _settled(client, second, 21)
    client.delete_user_restriction(pool_ban.id)
    assert _closed(client, second) == "COMPLETED"
    assert sum(a.user_id == banned for a in client.get_assignments(pool_id=second)) == 3


class _Receiver:
    def __init__(self) -> None:
        self.posts: list[tuple[dict, bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.posts.append((dict(self.headers), body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/toloka"

    def events(self, event_type: str) -> list[dict]:
        with self.lock:
            posts = list(self.posts)
        return [e for _, body in posts for e in json.loads(body)["events"] if e["type"] == event_type]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    receiver = _Receiver()
    yield receiver
    receiver.close()


def test_webhook_receiver_gets_signed_pool_closed_and_assignment_submitted(world, receiver):
    _emulator, client, project_id = world
    pool_id = _pool(client, project_id, overlap=2)
    _add_tasks(client, pool_id, 6, overlap=2)
    secret = "receiver-secret"
    result = client.upsert_webhook_subscriptions(
        [
            {
                "webhook_url": receiver.url,
                "event_type": "POOL_CLOSED",
                "pool_id": pool_id,
                "secret_key": secret,
            },
            {
                "webhook_url": receiver.url,
                "event_type": "ASSIGNMENT_SUBMITTED",
                "pool_id": pool_id,
                "secret_key": secret,
            },
        ]
    )
    assert sorted(result.items) == ["0", "1"] and not result.validation_errors
    assert {s.event_type.value for s in client.get_webhook_subscriptions(pool_id=pool_id)} == {
        "POOL_CLOSED",
        "ASSIGNMENT_SUBMITTED",
    }
    client.open_pool(pool_id)
    assert _closed(client, pool_id) == "COMPLETED"
    done = list(client.get_assignments(pool_id=pool_id))
    _wait(
        lambda: receiver.events("POOL_CLOSED") and len(receiver.events("ASSIGNMENT_SUBMITTED")) == len(done),
        15,
        "events",
    )

    [closed] = receiver.events("POOL_CLOSED")
    assert (closed["pool_id"], closed["project_id"], closed["close_reason"]) == (
        pool_id,
        project_id,
        "COMPLETED",
    )
    assert sorted(e["assignment_id"] for e in receiver.events("ASSIGNMENT_SUBMITTED")) == sorted(
        a.id for a in done
    )
    with receiver.lock:
        posts = list(receiver.posts)
    for headers, body in posts:
        version, stamp, signature = re.fullmatch(
            r"\{v=(\d+), ts=(\d+), sign=([0-9a-f]+)\}", headers["Toloka-Signature"]
        ).groups()
        expected = hmac.new(
            secret.encode(), f"{stamp}.{version}.".encode() + body, hashlib.sha256
        ).hexdigest()
        assert hmac.compare_digest(signature, expected)

    pushed = client.test_webhook_subscription(result.items["0"].id)
    assert pushed.success is True


def test_the_assignments_table_has_one_row_per_task_per_assignment(world):
    _emulator, client, project_id = world
    pool_id = _pool(
        client,
        project_id,
        overlap=3,
        mixer_config={"real_tasks_count": 3, "golden_tasks_count": 0, "training_tasks_count": 0},
    )
    _add_tasks(client, pool_id, 9, overlap=3)
    client.open_pool(pool_id)
    assert _closed(client, pool_id) == "COMPLETED"
    done = list(client.get_assignments(pool_id=pool_id))
    expected = sorted(
        (a.id, t.input_values["text"], s.output_values["label"])
        for a in done
        for t, s in zip(a.tasks, a.solutions, strict=True)
    )
    assert len(expected) == 27 and len(done) < 27

    rows = list(client.iter_assignments_table(pool_id, status=["SUBMITTED"]))
    assert (
        sorted((r["ASSIGNMENT:assignment_id"], r["INPUT:text"], r["OUTPUT:label"]) for r in rows) == expected
    )
    assert {r["ASSIGNMENT:status"] for r in rows} == {"SUBMITTED"}

    try:
        import pandas  # noqa: F401
    except ImportError:
        return  # the shared venv may lack pandas: the streaming reader above read the same export
    frame = client.get_assignments_df(pool_id, status=["SUBMITTED"])
    assert len(frame) == 27
    assert {"INPUT:text", "OUTPUT:label", "ASSIGNMENT:assignment_id", "ASSIGNMENT:worker_id"} <= set(
        frame.columns
    )


def test_bonuses_and_messages_reach_the_worker(world):
    emulator, client, _ = world
    worker = _control(emulator, "GET", "/_emulator/workers")["items"][1]["user_id"]
    client.create_user_bonus(
        {
            "user_id": worker,
            "amount": Decimal("0.40"),
            "public_title": {"EN": "Thanks"},
            "public_message": {"EN": "Well done"},
        }
    )
    thread = client.compose_message_thread(
        recipients_select_type="DIRECT",
        recipients_ids=[worker],
        topic={"EN": "Hello"},
        text={"EN": "Keep it up"},
    )
    client.reply_message_thread(thread.id, {"text": {"EN": "And thanks"}})
    record = _control(emulator, "GET", f"/_emulator/workers/{worker}")
    assert record["bonus_total"] == 0.4 and record["bonuses"][0]["public_title"] == {"EN": "Thanks"}
    assert [m["text"]["EN"] for m in record["messages"]] == ["Keep it up", "And thanks"]
    assert [t.id for t in client.get_message_threads(folder=["OUTBOX"])] == [thread.id]


def test_clone_project_async_actions_and_suite_overlap(world):
    emulator, client, project_id = world

    def done(operation):
        return client.wait_operation(operation, poll_interval=0.05)

    training = client.create_training(
        {
            "project_id": project_id,
            "private_name": "exam",
            "inherited_instructions": True,
            "training_tasks_in_task_suite_count": 1,
            "assignment_max_duration_seconds": 600,
        }
    )
    requirement = {
        "training_requirement": {"training_pool_id": training.id, "training_passing_skill_value": 70}
    }
    pool_id = _pool(client, project_id, overlap=1, quality_control=requirement)

    project, pools, trainings = client.clone_project(project_id)
    assert project.id != project_id and project.public_name == PROJECT["public_name"]
    assert [t.project_id for t in trainings] == [project.id] and trainings[0].id != training.id
    [pool] = pools
    assert pool.project_id == project.id and pool.id != pool_id
    assert pool.quality_control["training_requirement"]["training_pool_id"] == trainings[0].id

    # The *_async actions hand back the operation at once (None when there is nothing to do).
    suites = client.create_task_suites(
        [
            {
                "pool_id": pool.id,
                "overlap": 3,
                "tasks": [{"input_values": {"text": "a"}}, {"input_values": {"text": "b"}}],
            }
        ]
    )
    suite = suites.items["0"]
    assert client.patch_task_suite_overlap_or_min(suite.id, 1).overlap == 1
    emulator.pause_crowd()
    opened = client.open_pool_async(pool.id)
    assert opened.type == "POOL.OPEN" and opened.parameters["pool_id"] == pool.id
    assert done(opened).status.value == "SUCCESS"
    assert client.open_pool_async(pool.id) is None
    assert done(client.close_pool_for_update_async(pool.id)).status.value == "SUCCESS"
    assert client.get_pool(pool.id).last_close_reason.value == "FOR_UPDATE"
    clone = done(client.clone_pool_async(pool.id))
    assert client.get_pool(clone.details["pool_id"]).project_id == project.id
    assert done(client.archive_pool_async(clone.details["pool_id"])).status.value == "SUCCESS"
    assert client.close_pool_async(pool.id) is None
    client.archive_pool_async(pool.id)
    for operation in (
        client.open_training_async(trainings[0].id),
        client.close_training_async(trainings[0].id),
    ):
        assert done(operation).status.value == "SUCCESS"
    assert done(client.clone_training_async(trainings[0].id)).details["training_id"]
    for training_clone in client.get_trainings(project_id=project.id):
        client.archive_training_async(training_clone.id)
    _wait(
        lambda: all(p.status.value == "ARCHIVED" for p in client.get_pools(project_id=project.id)),
        10,
        "archived",
    )
    _wait(
        lambda: all(t.status.value == "ARCHIVED" for t in client.get_trainings(project_id=project.id)),
        10,
        "archived",
    )
    archived = client.archive_project_async(project.id)
    assert archived.type == "PROJECT.ARCHIVE"
    assert done(archived).status.value == "SUCCESS"
    assert client.get_project(project.id).status.value == "ARCHIVED"


def test_the_rest_of_the_apps_api(world):
    _emulator, client, _ = world
    assert "text-classification" in {app.id for app in client.get_apps()}
    assert client.get_app("text-classification").name == "Text classification"
    classes = [{"label": "Delivery", "value": "delivery"}, {"label": "Billing", "value": "billing"}]
    app_project = client.create_app_project(
        {
            "app_id": "text-classification",
            "name": "Tickets",
            "parameters": {"name": "Tickets", "default_language": "en", "instruction_classes": classes},
        }
    )
    _wait(lambda: client.get_app_project(app_project.id).status.value == "READY", 10, "READY")
    batch = client.create_app_batch(app_project.id, "b1", [{"text": "late parcel"}])
    item = client.create_app_item(
        app_project.id, {"batch_id": batch.id, "input_data": {"text": "charged twice"}}
    )
    ids = client.create_app_items(app_project.id, batch.id, [{"text": "refund"}, {"text": "lost"}])
    assert len(ids) == 2 and item.id not in ids
    assert (
        client.patch_app_batch(app_project.id, batch.id, name="renamed", priority_order="ONE").name
        == "renamed"
    )
    client.start_app_batch(app_project.id, batch.id)
    client.stop_app_batch(app_project.id, batch.id)
    client.resume_app_batch(app_project.id, batch.id)
    done = _wait(
        lambda: (b := client.get_app_batch(app_project.id, batch.id)).status.value == "COMPLETED" and b,
        15,
        "done",
    )
    assert done.items_count == 4 and done.items_processed_count == 4
    assert {i.status.value for i in client.get_app_items(app_project.id, batch_id=batch.id)} == {"COMPLETED"}
    assert client.archive_app_batch(app_project.id, batch.id).status.value == "ARCHIVE"
    assert client.unarchive_app_batch(app_project.id, batch.id).status.value == "COMPLETED"
    synced = client.start_sync_batch_processing(app_project.id, "now", [{"text": "where is my order"}])
    assert synced.status.value == "COMPLETED" and synced.items_count == 1
    assert client.archive_app_project(app_project.id).status.value == "ARCHIVED"
    assert client.unarchive_app_project(app_project.id).status.value == "READY"
