"""Each assignment votes once: an assignment listed twice in the aggregation input (an export concatenated with
itself, a retried fetch appended to its file) is counted once when the copies agree, and refused, naming the
assignment id, when they do not. The same rule holds for the agreement-based skill values.
"""

from __future__ import annotations

import json

import pytest
from test_op_fakes import make_context

from toloka_provider.client.errors import TolokaArgumentError
from toloka_provider.exceptions import TolokaInputError
from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator
from toloka_provider.steps.quality import agreement_by_worker
from toloka_provider.steps.votes import collect_votes, label_key


def assignment(assignment_id, user, labels, status="SUBMITTED"):
    return {
        "id": assignment_id, "user_id": user, "status": status,
        "tasks": [{"id": f"t{i}", "input_values": {"n": i}} for i in range(len(labels))],
        "solutions": [{"output_values": {"c": label}} for label in labels],
    }


# w1 and w2 say cat on t0, w3 says dog: listed twice, w3 would outvote them only if counted twice
ONE_EACH = [assignment("a1", "w1", ["cat"]), assignment("a2", "w2", ["dog"]), assignment("a3", "w3", ["dog"]),
            assignment("a4", "w4", ["cat"]), assignment("a5", "w5", ["cat"])]


def run(tmp_path, assignments):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in assignments))
    output = tmp_path / "out.jsonl"
    TolokaAggregateLocallyOperator(task_id="t", assignments_path=str(path), fields=["c"],
                                   output=str(output)).execute(make_context())
    return [json.loads(line) for line in output.read_text().splitlines()]


def test_an_identical_duplicate_votes_once_and_flips_nothing(tmp_path):
    once = run(tmp_path, ONE_EACH)
    assert once[0]["output_values"] == {"c": "cat"} and once[0]["votes"] == 5
    twice = run(tmp_path, [*ONE_EACH, ONE_EACH[1], ONE_EACH[2], ONE_EACH[1], ONE_EACH[2]])
    assert twice == once


def test_a_conflicting_duplicate_is_refused_naming_the_assignment(tmp_path):
    changed = assignment("a3", "w3", ["cat"])
    with pytest.raises(TolokaInputError, match="assignment a3 is listed twice with a different worker, status or "
                                               "answers"):
        run(tmp_path, [*ONE_EACH, changed])
    other_status = assignment("a2", "w2", ["dog"], status="REJECTED")
    with pytest.raises(TolokaInputError, match="assignment a2 is listed twice"):
        run(tmp_path, [*ONE_EACH, other_status])


def test_collect_votes_counts_each_assignment_once():
    votes, _, _ = collect_votes([*ONE_EACH, ONE_EACH[2]], ["c"], statuses={"SUBMITTED"}, include_golden=False)
    assert votes["t0"] == [("w1", '["cat"]'), ("w2", '["dog"]'), ("w3", '["dog"]'), ("w4", '["cat"]'),
                           ("w5", '["cat"]')]


def test_agreement_by_worker_counts_each_assignment_once_and_uses_the_one_label_key():
    labels = {"t0": label_key({"c": "cat"}, ["c"])}
    scores = agreement_by_worker([*ONE_EACH, ONE_EACH[0], ONE_EACH[0]], labels, ["c"])
    assert scores == {"w1": (1, 1), "w2": (0, 1), "w3": (0, 1), "w4": (1, 1), "w5": (1, 1)}
    with pytest.raises(TolokaArgumentError, match="assignment a1 is listed twice"):
        agreement_by_worker([*ONE_EACH, assignment("a1", "w1", ["dog"])], labels, ["c"])
