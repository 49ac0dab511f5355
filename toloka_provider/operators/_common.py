"""Parts shared by all Toloka operators: config loading, run identity and idempotency tags, file output.

Operators stay thin: they turn their arguments into client calls and a small XCom. What they have in common
lives here, once:

* ``load_json_config``: a config given as a dict, a JSON string, or a path to a JSON file (any
  ``ObjectStoragePath``), with errors that name the argument, the file and the position.
* ``RunIdentity``: who is running (dag id, run id, task id, map index). It gives the ``metadata`` tag that
  marks objects a task created (so a retry finds them instead of creating more) and deterministic
  operation ids for bulk creates.
* ``storage_path`` / ``atomic_jsonl_writer`` / ``iter_jsonl``: data that grows with the crowd goes to files,
  written under a temporary name and renamed, so a failed try never leaves a half file behind.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)

#: Namespace for operation ids derived from a task run (uuid5): stable across retries of the same try set.
OPERATION_ID_NAMESPACE = uuid.UUID("6f1d3c2e-5b7a-4c1e-9a43-0e7f2d9b8a10")

METADATA_DAG_ID = "airflow_dag_id"
METADATA_RUN_ID = "airflow_run_id"
METADATA_TASK_ID = "airflow_task_id"
METADATA_MAP_INDEX = "airflow_map_index"


class TolokaInputError(AirflowFailException, ValueError):
    """An operator argument is wrong (bad JSON, wrong type, ...). Retrying cannot help, so the task fails at once."""


class TolokaApiFailure(AirflowFailException):
    """Toloka refused a request for a reason a retry cannot change (HTTP 400, 401, 403, 404, 409, 413, ...).

    Airflow retries a task on any other exception; for these it would only repeat the same refusal after the
    retry delay, so the task fails at once. ``error`` is the client's original exception (also ``__cause__``).
    """

    def __init__(self, message: str, error: BaseException) -> None:
        super().__init__(message)
        self.error = error


def fail_fast_on_persistent_api_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``execute``/``execute_complete``: a persistent Toloka API error becomes ``TolokaApiFailure``.

    Transient errors (5xx, 408, 429, connection failures: the client has retried them already) pass through
    unchanged, so Airflow's task retries still cover an outage.
    """
    from toloka_provider.client.errors import ApiError

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ApiError as error:
            status = error.status_code
            if status is None or status >= 500 or status in (408, 429):
                raise
            conn_id = getattr(self, "toloka_conn_id", "toloka_default")
            if status == 401:
                hint = f"the API token of Airflow connection {conn_id!r} was rejected; check or renew it"
            elif status == 403:
                hint = f"the token of Airflow connection {conn_id!r} has no access; check the account and act_under_account_id"
            elif status == 404:
                hint = "the object does not exist for this account and environment; check the id and the connection"
            else:
                hint = "Toloka refused the request"
            raise TolokaApiFailure(f"{hint} (not retried): {error}", error) from error

    wrapper._toloka_fails_fast = True  # type: ignore[attr-defined]
    return wrapper


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read at operator construction like the official providers do."""
    from airflow.sdk.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


# --------------------------------------------------------------------------------------------------------------
# Config loading


def _json_position(text: str, error: json.JSONDecodeError) -> str:
    return f"line {error.lineno}, column {error.colno} (char {error.pos})"


def load_json_config(value: Any, *, argument: str, expect: type = dict) -> Any:
    """Return the config ``value`` as plain JSON data (a fresh copy the caller may change).

    ``value`` may be a dict (or list when ``expect`` is list), a model with ``to_json_dict()``, a JSON string,
    or a path / URL of a JSON file. A string that starts with ``{`` or ``[`` is JSON; any other string is a path.
    """
    if hasattr(value, "to_json_dict"):
        value = value.to_json_dict()
    if isinstance(value, (dict, list)):
        data = json.loads(json.dumps(value, default=str))  # deep copy, and proves the value is JSON-safe
    elif isinstance(value, (str, ObjectStoragePath)):
        text_value = str(value).strip()
        if isinstance(value, str) and text_value[:1] in ("{", "["):
            try:
                data = json.loads(text_value)
            except json.JSONDecodeError as err:
                raise TolokaInputError(
                    f"Argument {argument!r}: invalid JSON string at {_json_position(text_value, err)}: {err.msg}"
                ) from None
        else:
            path = storage_path(text_value)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise TolokaInputError(
                    f"Argument {argument!r}: {text_value!r} is neither JSON (it does not start with '{{' or '[') "
                    f"nor an existing file"
                ) from None
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise TolokaInputError(
                    f"Argument {argument!r}: file {text_value} is not valid JSON at "
                    f"{_json_position(text, err)}: {err.msg}"
                ) from None
    else:
        raise TolokaInputError(
            f"Argument {argument!r} must be a dict, a JSON string or a path to a JSON file, "
            f"got {type(value).__name__}"
        )
    if not isinstance(data, expect):
        raise TolokaInputError(
            f"Argument {argument!r} must hold a JSON {'object' if expect is dict else 'array'}, "
            f"got {type(data).__name__}"
        )
    return data


# --------------------------------------------------------------------------------------------------------------
# Who runs: idempotency tags and operation ids


@dataclass(frozen=True)
class RunIdentity:
    """The task instance an operator runs as; the same for every try of that task instance."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> RunIdentity:
        ti = context["ti"]
        run_id = getattr(ti, "run_id", None) or context["dag_run"].run_id
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=str(ti.dag_id),
            run_id=str(run_id),
            task_id=str(ti.task_id),
            map_index=-1 if map_index is None else int(map_index),
        )

    def metadata_tag(self) -> dict[str, list[str]]:
        """The Toloka ``metadata`` entries (values are lists of strings) that mark objects this task created."""
        tag = {
            METADATA_DAG_ID: [self.dag_id],
            METADATA_RUN_ID: [self.run_id],
            METADATA_TASK_ID: [self.task_id],
        }
        if self.map_index >= 0:
            # Mapped instances share dag, run and task id; without the index they would find each other's objects.
            tag[METADATA_MAP_INDEX] = [str(self.map_index)]
        return tag

    def is_tagged(self, metadata: Mapping[str, Any] | None) -> bool:
        """Whether an object's ``metadata`` carries exactly this run's tag."""
        if not metadata:
            return False
        wanted = self.metadata_tag()
        keys = (METADATA_DAG_ID, METADATA_RUN_ID, METADATA_TASK_ID, METADATA_MAP_INDEX)
        return all(list(metadata.get(key) or []) == wanted.get(key, []) for key in keys)

    def operation_id(self, *parts: object) -> str:
        """A uuid5 that is the same for every try of this task instance (and differs per ``parts``)."""
        name = "\x1f".join([self.dag_id, self.run_id, self.task_id, str(self.map_index), *map(str, parts)])
        return str(uuid.uuid5(OPERATION_ID_NAMESPACE, name))


def tag_metadata(config: dict, identity: RunIdentity) -> dict:
    """Add the run's tag to ``config["metadata"]``, keeping the user's own metadata keys."""
    metadata = dict(config.get("metadata") or {})
    metadata.update(identity.metadata_tag())
    config["metadata"] = metadata
    return config


# --------------------------------------------------------------------------------------------------------------
# Small accessors that work on client models and on plain dicts


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` for a model, ``obj[name]`` for a dict."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def enum_value(value: Any) -> str | None:
    """The wire string of a client enum (or a plain string); None stays None."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def as_json_dict(obj: Any) -> dict:
    if isinstance(obj, Mapping):
        return dict(obj)
    return obj.to_json_dict()


def describe_api_error(error: BaseException) -> str:
    """A one-line description of a client error, with the invalid field paths of a VALIDATION_ERROR."""
    text = str(error)
    payload = getattr(error, "payload", None)
    if getattr(error, "code", None) == "VALIDATION_ERROR" and isinstance(payload, Mapping) and payload:
        details = []
        for path, problem in list(payload.items())[:10]:
            if isinstance(problem, Mapping) and "code" in problem:
                details.append(f"{path}: {problem.get('code')} {problem.get('message') or ''}".strip())
            elif isinstance(problem, Mapping):  # bulk creates: item index -> {field path: {code, message}}
                details.append(f"{path}: {json.dumps(problem, default=str)[:300]}")
            else:
                details.append(f"{path}: {problem}")
        text += "; invalid fields: " + "; ".join(details)
    return text


# --------------------------------------------------------------------------------------------------------------
# Files


def storage_path(value: str | ObjectStoragePath) -> ObjectStoragePath:
    """An ``ObjectStoragePath`` for a user path; a path without a scheme is a local file (``file://``)."""
    if isinstance(value, ObjectStoragePath):
        return value
    text = str(value)
    if "://" not in text:
        text = "file://" + text
    return ObjectStoragePath(text)


#: Errors that say the output location itself is wrong (not a passing fault): retrying cannot help.
_BAD_OUTPUT_ERRORS = (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError)


@contextlib.contextmanager
def atomic_jsonl_writer(path: ObjectStoragePath, *, argument: str = "output") -> Iterator[Any]:
    """Yield a text file to write JSONL to; it appears at ``path`` only if the block finishes without error.

    The data goes to a hidden temporary name next to ``path`` and is renamed at the end, so readers and
    retries never see a half-written file. The temporary file is opened before the block runs, so an output
    path that cannot be written fails at once (TolokaInputError naming ``argument``), before any work.
    """
    temporary = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = temporary.open("w", encoding="utf-8")
    except _BAD_OUTPUT_ERRORS as error:
        raise TolokaInputError(
            f"Argument {argument!r}: cannot write {path}: {type(error).__name__}: {error}. Give a path whose "
            f"parent is a writable directory (or can be created)"
        ) from None
    try:
        with handle:
            yield handle
        if path.exists():
            path.unlink()  # a previous try's complete file; this try's data replaces it
        temporary.rename(path)
    finally:
        with contextlib.suppress(Exception):
            if temporary.exists():
                temporary.unlink()


def dump_json_line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def iter_jsonl(path: str | ObjectStoragePath, *, argument: str) -> Iterator[dict]:
    """Yield the JSON objects of a JSONL file; a bad line raises an error naming the file and the line."""
    source = storage_path(path)
    try:
        handle = source.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise TolokaInputError(f"Argument {argument!r}: file {path} does not exist") from None
    with handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line.rstrip("\r\n"))  # so that colno is the column in the file's line
            except json.JSONDecodeError as err:
                raise TolokaInputError(
                    f"Argument {argument!r}: file {path} line {line_number}, column {err.colno}: {err.msg}"
                ) from None
            if not isinstance(item, dict):
                raise TolokaInputError(
                    f"Argument {argument!r}: file {path} line {line_number} is a JSON "
                    f"{type(item).__name__}, expected an object"
                )
            yield item


# --------------------------------------------------------------------------------------------------------------
# Base operator


class TolokaBaseOperator(BaseOperator):
    """Holds the connection id and builds the hook lazily (never at DAG parse time)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every Toloka operator fails at once on a refusal a retry cannot change (see TolokaApiFailure);
        # done here once so that no operator can forget it.
        super().__init_subclass__(**kwargs)
        for name in ("execute", "execute_complete"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_toloka_fails_fast", False):
                setattr(cls, name, fail_fast_on_persistent_api_errors(method))

    def __init__(self, *, toloka_conn_id: str = "toloka_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.toloka_conn_id = toloka_conn_id

    @cached_property
    def hook(self) -> Any:
        from toloka_provider.hooks.toloka import TolokaHook

        return TolokaHook(toloka_conn_id=self.toloka_conn_id)

    def push_pool_url(self, context: Mapping[str, Any], pool_id: str) -> None:
        """Publish the pool's web page for the extra link; do it before any waiting."""
        from toloka_provider.links import POOL_URL_XCOM_KEY

        url = self.hook.web_ui_url(pool_id=pool_id)
        if url:
            context["ti"].xcom_push(key=POOL_URL_XCOM_KEY, value=url)

    def push_project_url(self, context: Mapping[str, Any], project_id: str) -> None:
        from toloka_provider.links import PROJECT_URL_XCOM_KEY

        url = self.hook.web_ui_url(project_id=project_id)
        if url:
            context["ti"].xcom_push(key=PROJECT_URL_XCOM_KEY, value=url)

    def find_or_create(
        self,
        *,
        kind: str,
        identity: RunIdentity,
        candidates: Callable[[], Iterable[Any]],
        create: Callable[[], Any],
        argument: str,
    ) -> Any:
        """Return the object an earlier try of this task instance created (found by its metadata tag), or create it.

        A create whose answer never came (a dropped connection, a 5xx) may still have created the object; the
        client does not repeat it (it has no idempotency key), so here the tag is looked up again, and only if
        nothing carries it is the create sent again (at most ``CREATE_ATTEMPTS`` times).
        A VALIDATION_ERROR from the server becomes an error that names the argument and the invalid field paths.
        """
        found = self._find_tagged(kind, identity, candidates)
        if found is not None:
            return found
        attempt = 1
        while True:
            try:
                created = create()
                break
            except Exception as error:
                if getattr(error, "code", None) == "VALIDATION_ERROR":
                    raise TolokaInputError(
                        f"Toloka rejected the {kind} config given in {argument!r}: {describe_api_error(error)}"
                    ) from error
                if not may_have_been_applied(error) or attempt >= CREATE_ATTEMPTS:
                    raise
                self.log.warning(
                    "Creating the %s failed (%s); looking for it before trying again (attempt %d of %d)",
                    kind, error, attempt + 1, CREATE_ATTEMPTS,
                )
                found = self._find_tagged(kind, identity, candidates)
                if found is not None:
                    return found
                attempt += 1
        self.log.info("Created %s %s", kind, field(created, "id"))
        return created

    def _find_tagged(self, kind: str, identity: RunIdentity, candidates: Callable[[], Iterable[Any]]) -> Any:
        for candidate in candidates():
            if identity.is_tagged(field(candidate, "metadata")):
                self.log.info(
                    "Found %s %s created by an earlier try of this task instance; not creating another",
                    kind,
                    field(candidate, "id"),
                )
                return candidate
        return None


#: How many times ``find_or_create`` sends a create whose earlier attempts may or may not have landed.
CREATE_ATTEMPTS = 4


def may_have_been_applied(error: BaseException) -> bool:
    """A lost answer (transport failure) or a server error: the create may or may not exist now."""
    from toloka_provider.client.errors import TransportError

    return isinstance(error, TransportError) or (getattr(error, "status_code", None) or 0) >= 500
