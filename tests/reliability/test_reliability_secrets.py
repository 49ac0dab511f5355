"""The API token never leaves the connection: not in logs, XComs, rendered fields, errors or reprs.

* ``text_classification`` (the example DAG) runs to success with ``dag.test()`` against the in-process emulator
  with a distinctive token; a second DAG (``rel_b_dags/rel_b_secret_failures.py``) fails in four ways (a pool
  that does not exist, a config the server rejects, a wrong token, an API that cannot be reached). For both, the
  token (and the wrong one) is searched for in everything the runs left or printed:

  - every file under the test AIRFLOW_HOME (the SQLite metadata database and its WAL; ``dag.test()`` writes
    no task log files, its task logs go to the console) and under the runs' output folder (assignment and
    label files);
  - everything written to the process's stdout and stderr (file-descriptor level: Airflow's task logs,
    tracebacks of the failed tasks) and every ``logging`` record at DEBUG and above (message, arguments and
    exception text);
  - every XCom of the runs and every rendered template field, read from the metadata database;
  - the exceptions themselves (``str``, ``repr`` and the formatted traceback) of the failures, raised directly.

* ``repr`` of the hook, the client (sync and async), the client's config and the connection settings.
* The hook registers the token with Airflow's secrets masker wherever it derives it (stripped of spaces, from
  the password or from the old ``extra__toloka__token``), on the sync and the async path, and ``airflow.sdk``'s
  ``redact`` then hides it, also inside the ``Authorization`` header value the client sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import traceback
import uuid
from pathlib import Path

import pytest
from rel_b_support import REPO, connection_json, make_context

pytestmark = [pytest.mark.reliability]

EXAMPLES = REPO / "dags_examples"
FAILING_DAGS = Path(__file__).resolve().parent / "rel_b_dags"
DEMO_CROWD = {"crowd": 30, "accuracy": (0.55, 0.95), "spammers": 0.1, "speed": 400.0, "seed": 7}


def distinctive_token(label: str) -> str:
    """A token no other text could contain by chance (and long enough for the masker, which skips short ones)."""
    return f"y0_{label}_{uuid.uuid4().hex}"


def _load_dag(folder: Path, dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def _point_airflow_at(monkeypatch, folder: Path, connections: dict[str, str], output: Path) -> None:
    from airflow import settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(folder))
    for conn_id, value in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    monkeypatch.setenv("TOLOKA_EXAMPLES_OUTPUT", str(output))
    monkeypatch.setenv("TOLOKA_EXAMPLES_POLL_INTERVAL", "1")


class Evidence:
    """Everything a run left or printed, as named texts, so a failing assertion says where the token was."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text

    def add_tree(self, root: Path, label: str) -> int:
        count = 0
        for path in sorted(root.rglob("*")):
            if path.is_file():
                # Bytes, decoded leniently: the SQLite file holds XComs and rendered fields in its pages.
                self.add(f"{label}:{path.relative_to(root)}", path.read_bytes().decode("utf-8", "replace"))
                count += 1
        return count

    def add_records(self, records: list[logging.LogRecord], label: str) -> None:
        lines = []
        for record in records:
            lines.append(f"{record.name} {record.getMessage()} {record.args!r}")
            if record.exc_info:
                lines.append("".join(traceback.format_exception(*record.exc_info)))
            if record.exc_text:
                lines.append(record.exc_text)
        self.add(label, "\n".join(lines))

    def add_database(self, dag_id: str, run_id: str) -> tuple[int, int]:
        from airflow.models.renderedtifields import RenderedTaskInstanceFields
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            xcoms = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id).all()
            rendered = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id, run_id=run_id).all()
            self.add(f"xcom:{dag_id}", "\n".join(f"{x.task_id} {x.key} {json.dumps(x.value, default=str)}" for x in xcoms))
            self.add(
                f"rendered:{dag_id}",
                "\n".join(f"{r.task_id} {json.dumps(r.rendered_fields, default=str)}" for r in rendered),
            )
            return len(xcoms), len(rendered)

    def where(self, secret: str) -> list[str]:
        return [name for name, text in self.texts.items() if secret in text]


@pytest.mark.e2e
@pytest.mark.integration
def test_no_token_anywhere_after_the_example_dag_and_a_failing_dag(
    airflow_db, toloka_emulator_factory, monkeypatch, tmp_path, capfd, caplog
):
    from dags_examples.demo import report

    token, wrong_token = distinctive_token("relb"), distinctive_token("wrong")
    emulator = toloka_emulator_factory(tokens=(token,), truth=report.TRUTH_FILE, **DEMO_CROWD)
    connections = {
        "toloka_default": connection_json(host=emulator.url, password=token),
        "toloka_wrong_token": connection_json(host=emulator.url, password=wrong_token),
        "toloka_unreachable": connection_json(host="http://127.0.0.1:9", password=token,
                                              extra={"retries": 0, "timeout": 2}),
    }
    caplog.set_level(logging.DEBUG)
    evidence = Evidence()

    # 1. The example DAG, to success.
    _point_airflow_at(monkeypatch, EXAMPLES, connections, tmp_path / "output")
    run = _load_dag(EXAMPLES, "text_classification").test()
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    xcoms, rendered = evidence.add_database("text_classification", run.run_id)
    assert xcoms >= 20 and rendered >= 20  # the search below covered real data

    # 2. A DAG whose every task fails.
    _point_airflow_at(monkeypatch, FAILING_DAGS, connections, tmp_path / "output")
    failed_run = _load_dag(FAILING_DAGS, "rel_b_secret_failures").test()
    states = {ti.task_id: ti.state for ti in failed_run.get_task_instances()}
    assert set(states.values()) == {"failed"}, states
    evidence.add_database("rel_b_secret_failures", failed_run.run_id)

    out, err = capfd.readouterr()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    evidence.add_records(caplog.records, "logging records")
    # The failed tasks' errors did reach the output (so the search looked at them).
    for fragment in ("pool '999999' does not exist", "task_spec", "HTTP 401", "127.0.0.1:9"):
        assert fragment in out + err + evidence.texts["logging records"], fragment
    files = evidence.add_tree(Path(os.environ["AIRFLOW_HOME"]), "AIRFLOW_HOME")
    files += evidence.add_tree(tmp_path / "output", "output")
    assert files >= 5

    # Negative controls: the searched texts hold what the runs really did (ids, the emulator's URL, errors).
    pool_id = str(next(iter(emulator.state.pools)))
    assert {"xcom:text_classification", "rendered:text_classification", "AIRFLOW_HOME:airflow.db"} <= set(
        evidence.where(pool_id)
    )
    assert evidence.where("does not exist") and evidence.where(emulator.url)

    for secret in (token, wrong_token):
        assert evidence.where(secret) == []


def _raised(call) -> BaseException:
    try:
        call()
    except BaseException as error:  # any failure is evidence
        return error
    raise AssertionError("expected a failure")


@pytest.mark.integration
def test_errors_and_reprs_never_show_the_token(toloka_emulator_factory, monkeypatch):
    from toloka_provider.client import AsyncTolokaClient, TolokaClient
    from toloka_provider.hooks.toloka import TolokaHook
    from toloka_provider.operators.pool import TolokaOpenPoolOperator
    from toloka_provider.operators.project import TolokaCreateProjectOperator

    token, wrong = distinctive_token("relb"), distinctive_token("wrong")
    toloka_emulator = toloka_emulator_factory(tokens=(token,), crowd=0)
    monkeypatch.setenv("AIRFLOW_CONN_TOLOKA_DEFAULT", connection_json(host=toloka_emulator.url, password=token))
    hook = TolokaHook()
    client = hook.get_conn()
    errors = [
        _raised(lambda: client.get_pool("999999")),
        _raised(lambda: TolokaClient(wrong, url=toloka_emulator.url).get_requester()),
        _raised(lambda: TolokaClient(wrong, url="http://127.0.0.1:9", retries=0, timeout=1).get_requester()),
        _raised(lambda: TolokaClient(f"Bearer {wrong}", url=toloka_emulator.url)),
        _raised(lambda: TolokaOpenPoolOperator(task_id="o", pool_id="999999").execute(make_context())),
        _raised(lambda: TolokaCreateProjectOperator(task_id="p", project={"x": 1}).execute(make_context())),
    ]
    texts = [f"{error!s} {error!r} {''.join(traceback.format_exception(error))}" for error in errors]
    reprs = [repr(hook), repr(client), repr(client._config), repr(hook.get_connection_settings()),
             str(hook.get_connection_settings()), repr(AsyncTolokaClient(token, url=toloka_emulator.url))]
    assert "pool '999999' does not exist" in texts[0] and "HTTP 401" in texts[1] and "task_spec" in texts[5]
    for secret in (token, wrong):
        assert [text for text in texts + reprs if secret in text] == []


def _recording_masker(monkeypatch) -> list:
    """Record what reaches ``airflow.sdk.log.mask_secret`` / ``amask_secret`` (and still mask it).

    Each entry is ``(name of the masker, secret)``. ``amask_secret`` exists from Airflow 3.3 on; on 3.2 only
    the sync masker is patched (the hook falls back to it there).
    """
    import airflow.sdk.log as sdk_log

    seen: list = []
    original = sdk_log.mask_secret

    def mask_secret(secret, name=None):
        seen.append(("mask_secret", secret))
        original(secret, name)

    monkeypatch.setattr(sdk_log, "mask_secret", mask_secret)
    original_async = getattr(sdk_log, "amask_secret", None)
    if original_async is not None:

        async def amask_secret(secret, name=None):
            seen.append(("amask_secret", secret))
            await original_async(secret, name)

        monkeypatch.setattr(sdk_log, "amask_secret", amask_secret)
    return seen


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(lambda token: {"password": f"  {token}\n"}, id="password with spaces (the hook strips them)"),
        pytest.param(lambda token: {"extra": {"extra__toloka__token": token}}, id="old extra__toloka__token"),
    ],
)
def test_the_hook_registers_the_token_it_derives_with_the_secrets_masker(fields, monkeypatch):
    from airflow.sdk.log import redact

    from toloka_provider.hooks.toloka import TolokaHook

    token = distinctive_token("mask")
    header = f"Authorization: OAuth {token}"
    assert redact(header) == header  # not masked before the hook has seen it
    seen = _recording_masker(monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_REL_B_MASK", connection_json(host="http://127.0.0.1:9", **fields(token)))

    client = TolokaHook("rel_b_mask").get_conn()

    assert ("mask_secret", token) in seen
    assert client._config.headers["Authorization"] == f"OAuth {token}"
    assert token not in redact(header) and "***" in redact(header)
    assert token not in redact({"headers": {"Authorization": f"OAuth {token}"}, "note": f"sent {token}"}).__repr__()


def test_the_async_hook_path_registers_the_token_too(monkeypatch):
    from airflow.sdk.log import redact

    from toloka_provider.hooks.toloka import TolokaHook

    token = distinctive_token("amask")
    seen = _recording_masker(monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_REL_B_AMASK", connection_json(host="http://127.0.0.1:9", password=f" {token} "))

    async def build() -> str:
        async with await TolokaHook("rel_b_amask").get_async_conn() as client:
            return repr(client)

    described = asyncio.run(build())

    # Airflow 3.3+: the async masker; 3.2 has none, and the hook falls back to the sync one (in a thread).
    import airflow.sdk.log as sdk_log

    expected = "amask_secret" if hasattr(sdk_log, "amask_secret") else "mask_secret"
    assert (expected, token) in seen
    assert token not in described
    assert token not in redact(f"ApiKey {token}")


def test_the_async_hook_path_masks_with_the_sync_masker_where_there_is_no_async_one(monkeypatch):
    """Airflow 3.2 has no ``amask_secret``: the same guarantee through ``mask_secret`` (run on any version)."""
    import airflow.sdk.log as sdk_log
    from airflow.sdk import Connection
    from airflow.sdk.log import redact

    from toloka_provider.hooks import toloka as hook_module
    from toloka_provider.hooks.toloka import TolokaHook

    token = distinctive_token("amask-fallback")
    stored = Connection(conn_id="rel_b_afallback", conn_type="toloka", host="http://127.0.0.1:9", password=token)

    async def read_connection(conn_id):
        # Airflow 3.3's own connection reading needs amask_secret, removed below: hand the hook its
        # connection directly, so that only the hook's masking sees an Airflow without the async masker.
        return stored

    monkeypatch.setattr(hook_module, "_aget_connection", read_connection)
    monkeypatch.delattr(sdk_log, "amask_secret", raising=False)
    seen = _recording_masker(monkeypatch)

    async def build() -> None:
        async with await TolokaHook("rel_b_afallback").get_async_conn():
            pass

    asyncio.run(build())

    assert seen == [("mask_secret", token)]
    assert token not in redact(f"ApiKey {token}")


def test_the_search_finds_a_planted_token_in_each_kind_of_source(tmp_path):
    """Negative control for the search above: a token put where a leak would be is found there."""
    token = distinctive_token("planted")
    (tmp_path / "logs" / "dag_id=x").mkdir(parents=True)
    (tmp_path / "logs" / "dag_id=x" / "attempt=1.log").write_text(f"Authorization: OAuth {token}\n")
    (tmp_path / "binary.db").write_bytes(b"\x00\xff" + token.encode() + b"\x00")
    record = logging.LogRecord("toloka", logging.INFO, __file__, 1, "sent %s", (f"OAuth {token}",), None)
    try:
        raise RuntimeError(f"failed with {token}")
    except RuntimeError:
        failed = logging.LogRecord("toloka", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())

    evidence = Evidence()
    evidence.add_tree(tmp_path, "tree")
    evidence.add_records([record, failed], "records")
    evidence.add("stdout", "nothing here")

    assert sorted(evidence.where(token)) == ["records", "tree:binary.db", "tree:logs/dag_id=x/attempt=1.log"]
