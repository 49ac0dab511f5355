"""Message threads between the requester and the crowd's workers (``/api/v1/message-threads``).

Routes (``register(router, state)``)::

    GET  /api/v1/message-threads                      ?folder=INBOX,UNREAD&folder_ne=...&id_gt=...&created_*
    POST /api/v1/message-threads/compose              201 + MessageThread
    POST /api/v1/message-threads/{id}/reply           201 + MessageThread
    POST /api/v1/message-threads/{id}/add-to-folders  201 + MessageThread
    POST /api/v1/message-threads/{id}/remove-from-folders

What happens
    * ``compose`` stores one thread in the requester's ``OUTBOX`` and delivers the message to each recipient's
      inbox: ``DIRECT`` to ``recipients_ids`` (1..100), ``ALL`` to every crowd worker, ``FILTER`` to the crowd
      workers for whom ``recipients_filter`` holds (the same filter JSON as pools, see ``quality.py``).
    * ``reply`` appends the requester's message and delivers it to the thread's workers.
    * A worker writes to the requester through the control endpoint ``POST /_emulator/workers/{user_id}/messages``
      (:func:`worker_writes`): a new thread (or a reply to ``thread_id``) lands in ``INBOX`` and ``UNREAD``.
    * ``folder`` lists threads that are in **every** folder given (``INBOX,UNREAD``: the unread part of the
      inbox); ``folder_ne`` drops threads that are in **any** folder given. Removing ``UNREAD`` marks a thread read.
    * What each worker received is :func:`worker_inbox`, shown in ``GET /_emulator/workers/{user_id}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from toloka_provider.emulator.errors import does_not_exist, field_error, validation_error
from toloka_provider.emulator.listing import ListSpec, list_page
from toloka_provider.emulator.quality import filter_holds
from toloka_provider.emulator.router import Request, Router
from toloka_provider.emulator.state import State
from toloka_provider.emulator.workers import is_known_user, unknown_user_error, worker_profiles

__all__ = ["register", "worker_inbox", "worker_writes"]

API = "/api/v1"
FOLDERS = ("AUTOMATIC_NOTIFICATION", "IMPORTANT", "INBOX", "OUTBOX", "UNREAD")
SELECT_TYPES = ("ALL", "DIRECT", "FILTER")
MAX_DIRECT_RECIPIENTS = 100


def _folder_list(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def _in_every_folder(value: str) -> Callable[[dict], bool]:
    wanted = _folder_list(value)
    return lambda thread: wanted <= set(thread.get("folders") or ())


def _in_no_folder(value: str) -> Callable[[dict], bool]:
    unwanted = _folder_list(value)
    return lambda thread: not unwanted & set(thread.get("folders") or ())


MESSAGE_THREADS = ListSpec(
    "message_threads",
    ranges={"id": ("id", "str"), "created": ("created", "date")},
    custom={"folder": _in_every_folder, "folder_ne": _in_no_folder},
)

def _inboxes(state: State) -> dict[str, list[dict]]:
    return state.inboxes


def worker_inbox(state: Any, user_id: str) -> list[dict]:
    """The messages ``user_id`` received from the requester, oldest first (copies)."""
    return [dict(message) for message in _inboxes(state).get(user_id, ())]


def _requester(state: State) -> dict:
    return {"id": state.requester_id, "role": "REQUESTER", "myself": True}


def _user(user_id: str) -> dict:
    return {"id": user_id, "role": "USER", "myself": False}


def _deliver(state: State, thread: dict, text: dict, recipients: list[str]) -> None:
    inboxes = _inboxes(state)
    for user_id in recipients:
        inboxes.setdefault(user_id, []).append(
            {
                "thread_id": thread["id"],
                "topic": thread.get("topic"),
                "text": text,
                "created": state.now_wire(),
            }
        )


def _language_map(body: dict, key: str, errors: dict) -> Any:
    value = body.get(key)
    if value is None:
        errors[key] = field_error("VALUE_REQUIRED", f"{key} is required (an object of language -> text)")
    elif not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
        errors[key] = field_error("OBJECT_EXPECTED", f"{key} must be a non-empty object of language -> text")
    return value


def _require_object(request: Request) -> dict:
    if not isinstance(request.body, dict):
        raise validation_error({"body": field_error("OBJECT_EXPECTED", "the body must be a JSON object")})
    return request.body


def compose(request: Request) -> tuple:
    body = _require_object(request)
    errors: dict[str, dict] = {}
    topic = _language_map(body, "topic", errors)
    text = _language_map(body, "text", errors)
    answerable = body.get("answerable", True)
    if not isinstance(answerable, bool):
        errors["answerable"] = field_error("BOOLEAN_EXPECTED", "answerable must be true or false")
    select = body.get("recipients_select_type")
    if select not in SELECT_TYPES:
        code = "VALUE_REQUIRED" if select is None else "UNKNOWN_ENUM_VALUE"
        errors["recipients_select_type"] = field_error(
            code, f"recipients_select_type must be one of {', '.join(SELECT_TYPES)}"
        )
    ids = body.get("recipients_ids")
    if select == "DIRECT":
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            errors["recipients_ids"] = field_error(
                "VALUE_REQUIRED", "recipients_ids must be a non-empty list of user ids for DIRECT"
            )
        elif len(ids) > MAX_DIRECT_RECIPIENTS:
            errors["recipients_ids"] = field_error(
                "ARRAY_SIZE_GREATER_THAN_MAX", f"at most {MAX_DIRECT_RECIPIENTS} recipients, got {len(ids)}"
            )
    if select == "FILTER" and not isinstance(body.get("recipients_filter"), dict):
        errors["recipients_filter"] = field_error(
            "VALUE_REQUIRED", "recipients_filter (a filter object) is required for FILTER"
        )
    if errors:
        raise validation_error(errors)
    state = request.state
    with state.lock:
        if select == "DIRECT":
            unknown = [user_id for user_id in dict.fromkeys(cast("list[str]", ids)) if not is_known_user(state, user_id)]
            if unknown:
                error = unknown_user_error(unknown[0])
                error["message"] = f"no user with these ids (not workers of this emulator's crowd): {unknown[:10]}"
                raise validation_error({"recipients_ids": error})
        workers = list(worker_profiles(state))
        if select == "DIRECT":
            recipients = list(dict.fromkeys(cast("list[str]", ids)))  # checked above: DIRECT has a list
        elif select == "ALL":
            recipients = workers
        else:
            recipients = [
                user_id
                for user_id in workers
                if filter_holds(state, user_id, body["recipients_filter"])
            ]
        details: dict[str, Any] = {"recipients_select_type": select}
        if select == "DIRECT":
            details["recipients_ids"] = recipients
        if select == "FILTER":
            details["recipients_filter"] = body["recipients_filter"]
        now = state.now_wire()
        interlocutors = [_requester(state)] + (
            [_user(user_id) for user_id in recipients] if select == "DIRECT" else []
        )
        thread = {
            "topic": topic,
            "interlocutors_inlined": True,
            "interlocutors": interlocutors,
            "messages_inlined": True,
            "messages": [{"text": text, "from": _requester(state), "created": now}],
            "meta": {},
            "answerable": answerable,
            "folders": ["OUTBOX"],
            "compose_details": details,
            "created": now,
        }
        state.create("message_threads", thread)
        _deliver(state, thread, text, recipients)
        return 201, _view(thread)


def _view(thread: dict) -> dict:
    view = dict(thread)
    view["messages"] = [dict(message) for message in thread["messages"]]
    view["folders"] = list(thread["folders"])
    return view


def reply(request: Request) -> tuple:
    body = _require_object(request)
    errors: dict[str, dict] = {}
    text = _language_map(body, "text", errors)
    if errors:
        raise validation_error(errors)
    state = request.state
    with state.lock:
        thread = state.get("message_threads", request.params["id"])
        thread["messages"].append({"text": text, "from": _requester(state), "created": state.now_wire()})
        users = [person["id"] for person in thread["interlocutors"] if person.get("role") == "USER"]
        _deliver(state, thread, text, users)
        return 201, _view(thread)


def _change_folders(add: bool):
    def handle(request: Request) -> tuple:
        body = _require_object(request)
        folders = body.get("folders")
        if not isinstance(folders, list) or not all(folder in FOLDERS for folder in folders):
            raise validation_error(
                {
                    "folders": field_error(
                        "UNKNOWN_ENUM_VALUE",
                        f"folders must be a list of {', '.join(FOLDERS)}, got {folders!r}",
                    )
                }
            )
        state = request.state
        with state.lock:
            thread = state.get("message_threads", request.params["id"])
            current = thread["folders"]
            if add:
                current.extend(folder for folder in dict.fromkeys(folders) if folder not in current)
            else:
                thread["folders"] = [folder for folder in current if folder not in folders]
            return 201, _view(thread)

    return handle


def list_threads(request: Request) -> tuple:
    # Copy the nested lists under the lock: a reply may append to a thread while the page is being sent.
    with request.state.lock:
        status, page = list_page(request, MESSAGE_THREADS)
        page["items"] = [_view(thread) for thread in page["items"]]
    return status, page


def worker_writes(state: State, user_id: str, body: dict) -> dict:
    """A worker sends the requester a message: a new thread, or a reply to ``body["thread_id"]``.

    ``body``: ``text`` (language -> text, or a plain string for ``EN``), optional ``topic``, ``pool_id``,
    ``assignment_id``. The thread goes to ``INBOX`` and ``UNREAD``. Returns the thread."""
    text = body.get("text")
    if isinstance(text, str):
        text = {"EN": text}
    if not isinstance(text, dict) or not text:
        raise validation_error({"text": field_error("VALUE_REQUIRED", "text is required")})
    with state.lock:
        now = state.now_wire()
        message = {"text": text, "from": _user(user_id), "created": now}
        thread_id = body.get("thread_id")
        if thread_id is not None:
            thread = state.objects["message_threads"].get(str(thread_id))
            if thread is None:
                raise does_not_exist("message_thread", str(thread_id))
            thread["messages"].append(message)
            if not any(person["id"] == user_id for person in thread["interlocutors"]):
                thread["interlocutors"].append(_user(user_id))
        else:
            topic = body.get("topic") or {"EN": "A question from a Toloker"}
            if isinstance(topic, str):
                topic = {"EN": topic}
            meta = {}
            pool = state.pools.get(str(body.get("pool_id"))) if body.get("pool_id") is not None else None
            if pool is not None:
                meta = {"pool_id": pool["id"], "project_id": pool.get("project_id")}
            if body.get("assignment_id") is not None:
                meta["assignment_id"] = str(body["assignment_id"])
            thread = {
                "topic": topic,
                "interlocutors_inlined": True,
                "interlocutors": [_user(user_id), _requester(state)],
                "messages_inlined": True,
                "messages": [message],
                "meta": meta,
                "answerable": True,
                "folders": [],
                "created": now,
            }
            state.create("message_threads", thread)
        for folder in ("INBOX", "UNREAD"):
            if folder not in thread["folders"]:
                thread["folders"].append(folder)
        return _view(thread)


def register(router: Router, state: State) -> None:
    router.add("GET", f"{API}/message-threads", list_threads)
    router.add("POST", f"{API}/message-threads/compose", compose)
    router.add("POST", f"{API}/message-threads/{{id}}/reply", reply)
    router.add("POST", f"{API}/message-threads/{{id}}/add-to-folders", _change_folders(True))
    router.add("POST", f"{API}/message-threads/{{id}}/remove-from-folders", _change_folders(False))
