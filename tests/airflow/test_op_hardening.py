"""Operators at their edges: no silent no-ops, everything validated before acting, Airflow's retry semantics.

Each test asserts the exact exception class, that the message names the argument (and the file, line and
column for a file), and what was sent: nothing, when the input was wrong. The fake client records calls.
"""

from __future__ import annotations

import json
import math

import pytest
from airflow.sdk.exceptions import AirflowFailException
from test_op_fakes import install, make_context

from toloka_provider.client.errors import DoesNotExistApiError, InternalApiError, TransportError
from toloka_provider.exceptions import TolokaApiFailure, TolokaInputError
from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
)
from toloka_provider.operators.tasks import TolokaCreateTasksOperator

WRITES = {"create_tasks", "accept_assignment", "reject_assignment", "open_pool", "create_pool"}


def _assignment(i: int, *, user="u1", answers=("pos",), golden=(None,)):
    return {
        "id": f"a{i}", "pool_id": "1", "user_id": user, "status": "SUBMITTED",
        "created": "2024-01-01T00:00:00", "submitted": f"2024-01-01T00:00:{10 + i:02d}",
        "tasks": [{"id": f"t{i}-{k}", "input_values": {"text": "x"},
                   **({"known_solutions": [{"output_values": {"label": g}}]} if g else {})}
                  for k, g in enumerate(golden)],
        "solutions": [{"output_values": {"label": a}} for a in answers],
    }  # fmt: skip


def _fake_with(monkeypatch, assignments=()):
    fake = install(monkeypatch)
    assert fake.create_pool({"project_id": "7"}).id == "1"
    for a in assignments:
        fake.assignments[a["id"]] = dict(a)
    fake.assignment_pages = [list(assignments)] if assignments else []
    return fake


def _writes(fake) -> list[str]:
    return [name for name in fake.names() if name in WRITES]


# ------------------------------------------------------------------------------------ no silent no-ops


@pytest.mark.parametrize("pool_id", ["999", "pool-typo"])
def test_fetch_from_a_pool_that_does_not_exist_fails_naming_the_argument(monkeypatch, tmp_path, pool_id):
    fake = _fake_with(monkeypatch)
    output = tmp_path / "a.jsonl"
    with pytest.raises(TolokaApiFailure) as raised:
        TolokaGetAssignmentsOperator(task_id="t", pool_id=pool_id, output=str(output)).execute(make_context())
    message = str(raised.value)
    assert message.startswith(
        f"Argument 'pool_id': Toloka pool {pool_id} does not exist for this account and environment"
    )
    assert f"pool {pool_id!r} does not exist" in message and "(not retried)" in message
    assert isinstance(raised.value.error, DoesNotExistApiError)
    assert "get_assignments_raw" not in fake.names()  # failed before listing, so nothing could be written
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("pool_id", ["", "None", "  "])
def test_an_empty_or_none_pool_id_fails_before_any_request(monkeypatch, pool_id):
    """``"None"`` is what a template renders for an XCom that was None."""
    fake = _fake_with(monkeypatch)
    for operator in (
        TolokaGetAssignmentsOperator(task_id="t", pool_id=pool_id),
        TolokaReviewAssignmentsOperator(task_id="r", pool_id=pool_id),
    ):
        with pytest.raises(TolokaInputError, match=r"^Argument 'pool_id' must be a pool id, got '(None)?'$"):
            operator.execute(make_context())
    assert fake.names() == ["create_pool"]


def test_review_of_a_pool_that_does_not_exist_fails_before_deciding(monkeypatch):
    fake = _fake_with(monkeypatch, [_assignment(0)])
    with pytest.raises(TolokaApiFailure, match=r"^Argument 'pool_id': Toloka pool 42 does not exist.*pool '42'"):
        TolokaReviewAssignmentsOperator(task_id="r", pool_id="42").execute(make_context())
    assert "get_assignments_raw" not in fake.names() and _writes(fake) == ["create_pool"]


def test_review_with_given_assignments_also_checks_a_given_pool(monkeypatch):
    fake = _fake_with(monkeypatch, [_assignment(0)])
    with pytest.raises(TolokaApiFailure, match="Argument 'pool_id'"):
        TolokaReviewAssignmentsOperator(task_id="r", pool_id="42", assignments=[_assignment(0)]).execute(
            make_context()
        )
    assert fake.assignments["a0"]["status"] == "SUBMITTED"


def test_a_training_pool_id_is_a_pool_too(monkeypatch):
    """Trainings have assignments as well: a training id passes the check (read through get_training)."""
    fake = _fake_with(monkeypatch)
    training = fake.create_training({"project_id": "7"})
    TolokaGetAssignmentsOperator(task_id="t", pool_id=training.id).execute(make_context())
    assert fake.names()[-3:] == ["get_pool", "get_training", "get_assignments_raw"]


def test_the_pool_read_gives_the_link_without_a_second_request(monkeypatch):
    fake = _fake_with(monkeypatch)
    context = make_context()
    TolokaGetAssignmentsOperator(task_id="t", pool_id="1").execute(context)
    assert context["ti"].xcom == {"toloka_pool_url": "https://ui/7/1"}
    assert fake.names().count("get_pool") == 1


def test_a_transient_failure_of_the_pool_read_is_left_to_airflow_retries(monkeypatch):
    fake = _fake_with(monkeypatch)
    outage = InternalApiError(503, "INTERNAL_ERROR", "down", "r", None, "GET", "/api/v1/pools/1")

    def failing_get_pool(pool_id):
        raise outage

    fake.get_pool = failing_get_pool
    with pytest.raises(InternalApiError) as raised:
        TolokaGetAssignmentsOperator(task_id="t", pool_id="1").execute(make_context())
    assert raised.value is outage and not isinstance(raised.value, AirflowFailException)


# ------------------------------------------------------------------------- task files validated whole


def _upload(monkeypatch, **kwargs):
    fake = _fake_with(monkeypatch)
    operator = TolokaCreateTasksOperator(task_id="up", pool_id="1", chunk_size=1, **kwargs)
    return fake, operator


def _jsonl(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


GOOD = '{"input_values": {"text": "x"}}'


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        (
            "broken.jsonl",
            _jsonl(GOOD, GOOD, GOOD, '{"input_values": {"text": "x"'),
            ("broken.jsonl line 4, column 30", "Expecting ',' delimiter"),
        ),
        ("array.jsonl", _jsonl(GOOD, "[1, 2]"), ("array.jsonl line 2 is a JSON list, expected an object",)),
        (
            "nan.jsonl",
            _jsonl(GOOD, '{"input_values": {"score": NaN}}'),
            ("nan.jsonl line 2: NaN is not JSON",),
        ),
        (
            "overlap.jsonl",
            _jsonl(GOOD, '{"input_values": {}, "overlap": true}'),
            ("overlap.jsonl line 2: task #1: overlap must be a whole number >= 1, got True",),
        ),
        (
            "overlap0.jsonl",
            _jsonl('{"input_values": {}, "overlap": 0}'),
            ("overlap0.jsonl line 1: task #0: overlap must be a whole number >= 1, got 0",),
        ),
        (
            "inputs.jsonl",
            _jsonl(GOOD, "", '{"input_values": "text"}'),
            ("inputs.jsonl line 3: task #1: 'input_values' must be a JSON object, got str",),
        ),
        (
            "pool.jsonl",
            _jsonl(GOOD, '{"pool_id": "2", "input_values": {}}'),
            ("pool.jsonl line 2: task #1 has pool_id '2', but the operator's pool_id is '1'",),
        ),
        (
            "dup.csv",
            "INPUT:text,GOLDEN:label,INPUT:text\nx,,y\n",
            ("dup.csv line 1, column 3: header 'INPUT:text' repeats column 1",),
        ),
        (
            "short.csv",
            "INPUT:text,OVERLAP\nx,1\ny\n",
            ("short.csv line 3: 1 cells, but the header has 2 columns",),
        ),
        ("long.csv", "INPUT:text\nx\ny,z\n", ("long.csv line 3: 2 cells, but the header has 1 columns",)),
        (
            "overlap.csv",
            "INPUT:text,OVERLAP\nx,1\ny,two\n",
            ("overlap.csv line 3, column 2: OVERLAP must be a whole number >= 1, got 'two'",),
        ),
        (
            "quoted.csv",
            'INPUT:text,OVERLAP\n"two\nlines",1\nz,-1\n',
            ("quoted.csv line 4, column 2: OVERLAP must be a whole number >= 1, got '-1'",),
        ),
        ("noinput.csv", "GOLDEN:label\nx\n", ("noinput.csv has no INPUT:<field> column",)),
    ],
    ids=lambda value: value if isinstance(value, str) and "." in value and "\n" not in value else "",
)
def test_a_bad_task_file_fails_before_the_first_chunk_naming_file_line_and_column(
    monkeypatch, tmp_path, name, content, fragments
):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    fake, operator = _upload(monkeypatch, tasks_path=str(path))
    with pytest.raises(TolokaInputError) as raised:
        operator.execute(make_context())
    message = str(raised.value)
    assert message.startswith("Argument 'tasks_path':") or message.startswith("Task #"), message
    for fragment in fragments:
        assert fragment in message, message
    assert _writes(fake) == ["create_pool"]  # not one chunk was sent


def test_bytes_that_are_not_utf8_name_the_line_and_column(monkeypatch, tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + '{"input_values": {"text": "caf\xe9"}}\n'.encode("latin-1"))
    fake, operator = _upload(monkeypatch, tasks_path=str(path))
    with pytest.raises(
        TolokaInputError, match=r"latin1\.jsonl line 2, column 31: not UTF-8 text \(byte b'\\xe9'\)"
    ):
        operator.execute(make_context())
    assert _writes(fake) == ["create_pool"]


@pytest.mark.parametrize("name", ["bom.jsonl", "bom.csv"])
def test_a_byte_order_mark_is_accepted(monkeypatch, tmp_path, name):
    path = tmp_path / name
    body = _jsonl(GOOD, GOOD) if name.endswith(".jsonl") else "INPUT:text,OVERLAP\nx,2\ny,\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    fake, operator = _upload(monkeypatch, tasks_path=str(path))
    assert operator.execute(make_context())["created"] == 2
    assert (
        [t["input_values"]["text"] for t in fake.tasks] == ["x", "x"]
        if name.endswith(".jsonl")
        else ["x", "y"]
    )
    if name.endswith(".csv"):
        assert fake.tasks[0]["overlap"] == 2 and "overlap" not in fake.tasks[1]


def test_a_bad_task_in_a_later_chunk_of_a_list_sends_no_chunk(monkeypatch):
    """The list used to be checked chunk by chunk: the first chunks were created before the bad task was seen."""
    tasks = [{"input_values": {"text": str(i)}} for i in range(10)] + [{"pool_id": "9", "input_values": {}}]
    fake, operator = _upload(monkeypatch, tasks=tasks)
    with pytest.raises(
        TolokaInputError, match=r"^Task #10 has pool_id '9', but the operator's pool_id is '1'$"
    ):
        operator.execute(make_context())
    assert _writes(fake) == ["create_pool"] and fake.tasks == []


def test_a_missing_task_file_names_the_argument(monkeypatch, tmp_path):
    fake, operator = _upload(monkeypatch, tasks_path=str(tmp_path / "nowhere.csv"))
    with pytest.raises(
        TolokaInputError, match=r"^Argument 'tasks_path': file .*nowhere\.csv does not exist$"
    ):
        operator.execute(make_context())
    assert fake.names() == ["create_pool"]


@pytest.mark.parametrize("chunk_size", [0, -1, True, 2.5, "10"])
def test_chunk_size_must_be_a_positive_int(chunk_size):
    with pytest.raises(TolokaInputError, match=rf"^'chunk_size' must be a positive int, got {chunk_size!r}$"):
        TolokaCreateTasksOperator(task_id="up", pool_id="1", tasks=[], chunk_size=chunk_size)


# ----------------------------------------------------------------------------------------- review inputs


@pytest.mark.parametrize("threshold", [True, False, "0.8", math.nan, math.inf, 1.5, -0.1, None, [0.5]])
def test_golden_accuracy_threshold_must_be_a_number_from_0_to_1(monkeypatch, threshold):
    fake = _fake_with(monkeypatch, [_assignment(0)])
    operator = TolokaReviewAssignmentsOperator(
        task_id="r", pool_id="1", verdict={"golden_accuracy_threshold": threshold}
    )
    with pytest.raises(TolokaInputError) as raised:
        operator.execute(make_context())
    assert str(raised.value) == f"'golden_accuracy_threshold' must be a fraction in [0, 1] (a number from 0 to 1: 0.9, not 90), got {threshold!r}"
    assert fake.names() == ["create_pool"]  # checked before the pool was read or anything fetched


@pytest.mark.parametrize("threshold", [0, 1, 0.5])
def test_thresholds_at_the_bounds_are_fine(monkeypatch, threshold):
    fake = _fake_with(monkeypatch, [_assignment(0, answers=("a", "b"), golden=(None, "b"))])
    result = TolokaReviewAssignmentsOperator(
        task_id="r", pool_id="1", verdict={"golden_accuracy_threshold": threshold}
    ).execute(make_context())
    assert result["accepted"] == 1 and fake.assignments["a0"]["status"] == "ACCEPTED"


def verdict_that_raises(assignment: dict):
    if assignment["id"] == "a2":
        raise KeyError("label")
    return "accept"


def test_a_verdict_callable_that_raises_fails_naming_the_assignment_and_the_callable(monkeypatch):
    assignments = [_assignment(i) for i in range(4)]
    fake = _fake_with(monkeypatch, assignments)
    path = f"{__name__}.verdict_that_raises"
    with pytest.raises(TolokaInputError) as raised:
        TolokaReviewAssignmentsOperator(task_id="r", assignments=assignments, verdict=path).execute(
            make_context()
        )
    message = str(raised.value)
    assert message == (
        f"verdict callable {path} raised KeyError: 'label' for assignment a2. No decision was sent "
        f"(all verdicts are computed before the first request)"
    )
    assert isinstance(raised.value.__cause__.__cause__, KeyError)
    assert _writes(fake) == ["create_pool"]
    assert {a["status"] for a in fake.assignments.values()} == {"SUBMITTED"}


def test_a_verdict_callable_given_as_a_function_is_named_by_its_qualname(monkeypatch):
    assignments = [_assignment(0)]
    _fake_with(monkeypatch, assignments)

    def broken(assignment):
        return 1 / 0

    with pytest.raises(
        TolokaInputError, match=r"verdict callable .*broken raised ZeroDivisionError.*assignment a0"
    ):
        TolokaReviewAssignmentsOperator(task_id="r", assignments=assignments, verdict=broken).execute(
            make_context()
        )


@pytest.mark.parametrize(
    ("verdict", "message"),
    [
        (
            {"golden_accuracy_threshold": 0.5, "no_golden": "maybe"},
            "verdict 'no_golden' must be accept, skip or reject",
        ),
        (
            {"golden_accuracy_threshold": 0.5, "reject_comment": 3},
            "verdict 'reject_comment' must be a string, got int",
        ),
        (42, "verdict must be 'accept_all', a dict with 'golden_accuracy_threshold', or a dotted path"),
    ],
)
def test_other_verdict_mistakes_fail_before_anything_is_read(monkeypatch, verdict, message):
    fake = _fake_with(monkeypatch, [_assignment(0)])
    with pytest.raises(TolokaInputError, match=message):
        TolokaReviewAssignmentsOperator(task_id="r", pool_id="1", verdict=verdict).execute(make_context())
    assert fake.names() == ["create_pool"]


@pytest.mark.parametrize("concurrency", [0, True, 1.5])
def test_concurrency_must_be_a_positive_int(concurrency):
    with pytest.raises(TolokaInputError, match=rf"'concurrency' must be a positive int, got {concurrency!r}"):
        TolokaReviewAssignmentsOperator(task_id="r", pool_id="1", concurrency=concurrency)


@pytest.mark.parametrize("batch_size", [True, 1.0, "5"])
def test_batch_size_must_be_an_int(batch_size):
    with pytest.raises(TolokaInputError, match=r"'batch_size' must be an int from 1 to 100000"):
        TolokaGetAssignmentsOperator(task_id="t", pool_id="1", batch_size=batch_size)


# ----------------------------------------------------------------------------------- retry semantics


def test_a_connection_drop_while_sending_counts_as_failed_and_the_task_fails_retryably(monkeypatch):
    """A decision whose request never got an answer is not an input error: the task fails, Airflow retries."""
    from airflow.sdk.exceptions import AirflowException

    assignments = [_assignment(i) for i in range(3)]
    fake = _fake_with(monkeypatch, assignments)
    fake.fail_patch["a1"] = TransportError("connection reset", "PATCH", "/api/v1/assignments/a1", attempts=4)
    with pytest.raises(AirflowException) as raised:
        TolokaReviewAssignmentsOperator(task_id="r", assignments=assignments).execute(make_context())
    assert not isinstance(raised.value, AirflowFailException)
    assert "1 of 3 review decisions failed" in str(raised.value) and "a1: TransportError" in str(raised.value)


def test_bad_json_config_strings_never_raise_a_plain_value_error():
    from toloka_provider.arguments import load_json_config

    for value, fragment in [
        ('{"a": NaN}', "Argument 'cfg': invalid JSON string: NaN is not JSON"),
        ({"a": math.nan}, "Argument 'cfg': Out of range float values are not JSON compliant"),
        # The column differs by Python version (3.13 points at the comma, older ones after it).
        ('{"a": 1,}', "Argument 'cfg': invalid JSON string at line 1, column "),
        (3, "Argument 'cfg' must be a dict, a JSON string or a path to a JSON file, got int"),
    ]:
        with pytest.raises(TolokaInputError) as raised:
            load_json_config(value, argument="cfg")
        assert type(raised.value) is TolokaInputError and fragment in str(raised.value), str(raised.value)


def test_a_config_file_with_a_byte_order_mark_loads(tmp_path):
    from toloka_provider.arguments import load_json_config

    path = tmp_path / "project.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"public_name": "p"}).encode())
    assert load_json_config(str(path), argument="project") == {"public_name": "p"}


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("poll_interval", 0),
        ("poll_interval", -1),
        ("timeout", 0),
        ("timeout", math.nan),
        ("timeout", True),
        ("poll_interval", "5"),
    ],
)
def test_server_aggregation_checks_its_wait_arguments_at_construction(argument, value):
    from toloka_provider.operators.aggregation import TolokaAggregateSolutionsOperator

    with pytest.raises(
        TolokaInputError, match=rf"^'{argument}' must be a number of seconds > 0, got {value!r}$"
    ):
        TolokaAggregateSolutionsOperator(
            task_id="agg", pool_id="1", fields=["label"], output="x.jsonl", **{argument: value}
        )


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        (['{"id": "a0", "user_id": "u", "status": "SUBMITTED"}', '{"user_id": "u"}'], "line 2 has no 'id'"),
        (['{"id": "a0", "tasks": "t1"}'], "line 1 (assignment a0): 'tasks' must be a list, got str"),
        (
            ['{"id": "a0", "solutions": {"a": 1}}'],
            "line 1 (assignment a0): 'solutions' must be a list, got dict",
        ),
        (["[]"], "line 1 is a JSON list, expected an object"),
    ],
)
def test_an_assignments_file_the_review_cannot_read_fails_naming_the_line(
    monkeypatch, tmp_path, lines, fragment
):
    """Never a plain KeyError / AttributeError from deep inside the review, and nothing sent."""
    fake = _fake_with(monkeypatch, [_assignment(0)])
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n")
    operator = TolokaReviewAssignmentsOperator(
        task_id="r", assignments_path=str(path), verdict={"golden_accuracy_threshold": 0.5}
    )
    with pytest.raises(TolokaInputError) as raised:
        operator.execute(make_context())
    assert str(raised.value).startswith(f"Argument 'assignments_path': file {path} ") and fragment in str(
        raised.value
    )
    assert _writes(fake) == ["create_pool"]


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("a0", "item #1 must be an assignment object, got str"),
        ({"status": "SUBMITTED"}, "item #1 has no 'id'"),
    ],
)
def test_an_assignments_list_the_review_cannot_read_fails_naming_the_item(monkeypatch, item, fragment):
    fake = _fake_with(monkeypatch, [_assignment(0)])
    operator = TolokaReviewAssignmentsOperator(task_id="r", assignments=[_assignment(0), item])
    with pytest.raises(TolokaInputError, match=rf"^Argument 'assignments': {fragment}"):
        operator.execute(make_context())
    assert _writes(fake) == ["create_pool"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_inline": -1}, "'max_inline' must be an int >= 0, got -1"),
        ({"max_inline": "10"}, "'max_inline' must be an int >= 0, got '10'"),
        ({"use_data_interval": "yes"}, "'use_data_interval' must be None, True or False, got 'yes'"),
        ({"consistency_lag": 60}, "'consistency_lag' must be a datetime.timedelta >= 0, got 60"),
    ],
)
def test_fetch_arguments_are_checked_at_construction(kwargs, message):
    with pytest.raises(TolokaInputError) as raised:
        TolokaGetAssignmentsOperator(task_id="t", pool_id="1", **kwargs)
    assert str(raised.value) == message


def test_review_progress_every_must_be_an_int():
    with pytest.raises(TolokaInputError, match=r"^'progress_every' must be an int >= 0, got 0\.5$"):
        TolokaReviewAssignmentsOperator(task_id="r", pool_id="1", progress_every=0.5)


def test_local_aggregation_reads_only_what_it_can_and_names_the_line(tmp_path):
    from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator

    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "a0", "status": "ACCEPTED", "tasks": [{"id": "t"}], "solutions": ["pos"]}\n')
    operator = TolokaAggregateLocallyOperator(
        task_id="agg", assignments_path=str(path), fields=["label"], output=str(tmp_path / "out.jsonl")
    )
    with pytest.raises(TolokaInputError) as raised:
        operator.execute(make_context())
    assert str(raised.value) == (
        f"Argument 'assignments_path': file {path} line 1 (assignment a0): solutions[0] must be an object, got str"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]


def test_local_aggregation_statuses_are_a_list_of_names():
    from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator

    operator = TolokaAggregateLocallyOperator(
        task_id="agg", assignments_path="a.jsonl", fields=["label"], output="o.jsonl", statuses="ACCEPTED"
    )
    assert operator.statuses == ["ACCEPTED"]  # not a substring test against the string "ACCEPTED"
    with pytest.raises(
        TolokaInputError, match=r"^'statuses' must be a non-empty list of assignment statuses"
    ):
        TolokaAggregateLocallyOperator(
            task_id="agg", assignments_path="a", fields=["l"], output="o", statuses=[]
        )


def test_an_upload_to_a_pool_that_does_not_exist_names_the_argument_and_sends_nothing(monkeypatch):
    fake, _ = _upload(monkeypatch, tasks=[])
    operator = TolokaCreateTasksOperator(task_id="up", pool_id="77", tasks=[{"input_values": {}}])
    with pytest.raises(TolokaApiFailure, match=r"^Argument 'pool_id': Toloka pool 77 does not exist.*pool '77'"):
        operator.execute(make_context())
    assert _writes(fake) == ["create_pool"]
