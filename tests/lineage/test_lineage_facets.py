"""What each data-moving operator returns to OpenLineage: exact datasets, run facets, and nothing sent to Toloka.

The operators get a stand-in hook (connection settings only, no client): building lineage must not need a
client, so any request would fail the test. Without the ``[openlineage]`` extra (imports blocked) the
operators and ``toloka_provider.lineage`` import and run, and nothing of OpenLineage is loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from types import SimpleNamespace

import pytest

pytest.importorskip("airflow.providers.openlineage")

from toloka_provider import lineage
from toloka_provider.hooks.toloka import TolokaConnectionSettings
from toloka_provider.operators.aggregation import (
    TolokaAggregateLocallyOperator,
    TolokaAggregateSolutionsOperator,
)
from toloka_provider.operators.assignments import (
    TolokaGetAssignmentsOperator,
    TolokaReviewAssignmentsOperator,
)
from toloka_provider.operators.pool import TolokaOpenPoolOperator
from toloka_provider.operators.quality import TolokaCreateBonusesOperator
from toloka_provider.operators.tasks import TolokaCreateTasksOperator

NS = "toloka://127.0.0.1:8123"


class SettingsOnlyHook:
    """Gives the connection's settings; any attempt to build a client fails the test."""

    def __init__(self, url: str | None = "http://127.0.0.1:8123", environment: str | None = None) -> None:
        self.settings = TolokaConnectionSettings(conn_id="toloka_default", token="t", url=url, environment=environment)

    def get_connection_settings(self) -> TolokaConnectionSettings:
        return self.settings

    def get_conn(self):
        raise AssertionError("lineage must not send a request")


def with_hook(operator, **hook_kwargs):
    operator.hook = SettingsOnlyHook(**hook_kwargs)
    return operator


def keys(datasets) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def test_namespace_is_the_api_host_with_its_port():
    assert lineage.toloka_namespace("https://toloka.dev") == "toloka://toloka.dev"
    assert lineage.toloka_namespace("http://127.0.0.1:8123/") == NS
    with pytest.raises(ValueError, match="api_url must be an http"):
        lineage.toloka_namespace("not a url")


def test_production_and_sandbox_connections_name_their_hosts():
    op = with_hook(TolokaOpenPoolOperator(task_id="o", pool_id="7"), url=None, environment="sandbox")
    assert keys(op.get_openlineage_facets_on_start().outputs) == [("toloka://sandbox.toloka.dev", "pools/7")]
    op = with_hook(TolokaOpenPoolOperator(task_id="o", pool_id="7"), url=None, environment=None)
    assert keys(op.get_openlineage_facets_on_start().outputs) == [("toloka://toloka.dev", "pools/7")]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/data/tasks.jsonl", ("file", "/data/tasks.jsonl")),
        ("file:///data/tasks.jsonl", ("file", "/data/tasks.jsonl")),
    ],
)
def test_local_files_are_named_as_the_openlineage_provider_names_them(path, expected):
    dataset = lineage.file_dataset(path)
    assert (dataset.namespace, dataset.name) == expected


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert keys([lineage.file_dataset("tasks.jsonl")]) == [("file", str(tmp_path / "tasks.jsonl"))]


TRANSLATION = "airflow.providers.common.compat.openlineage.utils.utils.translate_airflow_asset"


def test_a_url_is_named_by_the_openlineage_asset_translation_connection_id_and_all(monkeypatch):
    from airflow.providers.common.compat.openlineage.facet import Dataset

    asked = []

    def translate(asset, context):
        asked.append((asset.uri, context))
        return Dataset(namespace="s3://aws_default@bucket", name="run/assignments.jsonl")

    monkeypatch.setattr(TRANSLATION, translate)
    dataset = lineage.file_dataset("s3://aws_default@bucket/run/assignments.jsonl")
    assert asked == [("s3://aws_default@bucket/run/assignments.jsonl", None)]
    assert (dataset.namespace, dataset.name) == ("s3://aws_default@bucket", "run/assignments.jsonl")


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://reader:s3cr3t-t0ken@files.example/a/b.jsonl", "https://reader@files.example/a/b.jsonl"),
        ("https://files.example/a/b.jsonl?X-Amz-Signature=abc#frag", "https://files.example/a/b.jsonl"),
        ("s3://aws_default@bucket/k.jsonl", "s3://aws_default@bucket/k.jsonl"),
    ],
)
def test_a_password_query_or_fragment_never_reaches_the_translation_or_the_name(monkeypatch, url, sent):
    asked = []

    def translate(asset, context):
        asked.append(asset.uri)
        return None

    monkeypatch.setattr(TRANSLATION, translate)
    dataset = lineage.file_dataset(url)
    assert asked == [sent]
    assert "s3cr3t" not in dataset.namespace + dataset.name and "Signature" not in dataset.namespace + dataset.name


@pytest.mark.parametrize("translation", ["none", "raises"])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("s3://aws_default@bucket/run/assignments.jsonl", ("s3://bucket", "run/assignments.jsonl")),
        ("gs://bucket/a/b.jsonl?x=1#y", ("gs://bucket", "a/b.jsonl")),
        ("file:///data/tasks.jsonl", ("file", "/data/tasks.jsonl")),
    ],
)
def test_without_a_translation_files_are_named_by_the_naming_spec(monkeypatch, translation, path, expected):
    def translate(asset, context):
        if translation == "raises":
            raise ValueError("no converter")
        return None

    monkeypatch.setattr(TRANSLATION, translate)
    dataset = lineage.file_dataset(path)
    assert (dataset.namespace, dataset.name) == expected


def test_without_the_compat_module_the_openlineage_providers_own_translation_is_used(monkeypatch):
    from airflow.providers.common.compat.openlineage.facet import Dataset

    monkeypatch.setitem(sys.modules, "airflow.providers.common.compat.openlineage.utils.utils", None)
    asked = []

    def translate(asset, context):
        asked.append(asset.uri)
        return Dataset(namespace="s3://conn@bucket", name="key")

    monkeypatch.setattr("airflow.providers.openlineage.utils.utils.translate_airflow_asset", translate)
    assert keys([lineage.file_dataset("s3://conn@bucket/key")]) == [("s3://conn@bucket", "key")]
    assert asked == ["s3://conn@bucket/key"]


def test_a_scheme_with_no_converter_installed_falls_back():
    # No OpenLineage converter is registered for gs:// in the test environment (no Google provider).
    assert keys([lineage.file_dataset("gs://bucket/a/b.jsonl")]) == [("gs://bucket", "a/b.jsonl")]


def _hook_lineage_names(monkeypatch, write) -> list[tuple[str, str]]:
    """The names Airflow's hook-level lineage gives the files ``write()`` touches through ``ObjectStoragePath``,
    translated as the OpenLineage provider's extractor manager translates the collected assets."""
    from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import lineage as sdk_lineage

    collector = sdk_lineage.HookLineageCollector()
    monkeypatch.setattr(sdk_lineage, "get_hook_lineage_collector", lambda: collector)
    write()
    collected = collector.collected_assets
    translated = [translate_airflow_asset(info.asset, info.context) for info in collected.inputs + collected.outputs]
    return [(d.namespace, d.name) for d in translated if d is not None]


def test_an_operator_names_a_file_as_hook_level_lineage_names_it(tmp_path, monkeypatch):
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(f"file://{tmp_path}/run/labels.jsonl")

    def write():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            handle.write(b"{}\n")

    names = _hook_lineage_names(monkeypatch, write)
    assert names == [("file", f"{tmp_path}/run/labels.jsonl")]
    assert keys([lineage.file_dataset(str(path))]) == names
    op = with_hook(TolokaGetAssignmentsOperator(task_id="f", pool_id="12", output=str(path)))
    op._lineage_result = {"pool_id": "12", "path": str(path), "count": 1}
    assert keys(op.get_openlineage_facets_on_complete(None).outputs) == names


def test_s3_files_get_one_name_from_operators_and_hook_level_lineage(monkeypatch):
    pytest.importorskip("airflow.providers.amazon")
    from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    url = "s3://aws_default@toloka-labels/run/assignments.jsonl"
    hook_side = translate_airflow_asset(Asset(uri=url), None)
    assert hook_side is not None
    assert keys([lineage.file_dataset(url)]) == [(hook_side.namespace, hook_side.name)]


def test_task_upload_from_a_file_to_the_pool_with_counts():
    op = with_hook(TolokaCreateTasksOperator(task_id="u", pool_id="12", tasks_path="/d/tasks.jsonl"))
    start = op.get_openlineage_facets_on_start()
    assert keys(start.inputs) == [("file", "/d/tasks.jsonl")]
    assert keys(start.outputs) == [(NS, "pools/12")]
    assert start.run_facets["toloka"].counts == {}

    op._lineage_result = {"pool_id": "12", "created": 360, "failed": 2}
    done = op.get_openlineage_facets_on_complete(None)
    assert keys(done.inputs) == [("file", "/d/tasks.jsonl")]
    facets = done.run_facets
    assert facets["externalQuery"].externalQueryId == "12"
    assert facets["externalQuery"].source == NS
    assert facets["toloka"].objects == {"pool_id": "12"}
    assert facets["toloka"].counts == {"created": 360, "failed": 2}
    assert "tolokaSpend" not in facets
    assert op.get_openlineage_facets_on_failure(None).run_facets["toloka"].counts == {"created": 360, "failed": 2}


def test_inline_tasks_have_no_input_dataset_but_the_pool_as_output():
    op = with_hook(TolokaCreateTasksOperator(task_id="u", pool_id="12", tasks=[{"input_values": {"x": 1}}]))
    lin = op.get_openlineage_facets_on_start()
    assert lin.inputs == [] and keys(lin.outputs) == [(NS, "pools/12")]


def test_fetch_reads_the_pool_and_writes_the_file_with_its_row_count():
    op = with_hook(TolokaGetAssignmentsOperator(task_id="f", pool_id="3", output="file:///o/a.jsonl"))
    op._lineage_result = {"path": "file:///o/a.jsonl", "count": 41}
    lin = op.get_openlineage_facets_on_complete(None)
    assert keys(lin.inputs) == [(NS, "pools/3")]
    assert keys(lin.outputs) == [("file", "/o/a.jsonl")]
    assert lin.outputs[0].outputFacets["outputStatistics"].rowCount == 41
    assert lin.run_facets["toloka"].counts == {"count": 41}


def test_review_reads_the_file_and_writes_the_pools_decisions():
    op = with_hook(
        TolokaReviewAssignmentsOperator(
            task_id="r", pool_id="3", assignments_path="/o/a.jsonl", verdict={"golden_accuracy_threshold": 0.5}
        )
    )
    op._lineage_result = {"accepted": 30, "rejected": 5, "skipped": 0, "already_done": 1, "failed": 0}
    lin = op.get_openlineage_facets_on_complete(None)
    assert keys(lin.inputs) == [("file", "/o/a.jsonl")]
    assert keys(lin.outputs) == [(NS, "pools/3")]
    assert lin.run_facets["toloka"].counts == {"accepted": 30, "rejected": 5, "skipped": 0, "already_done": 1, "failed": 0}


def test_local_aggregation_from_assignments_to_labels_and_csv():
    op = with_hook(
        TolokaAggregateLocallyOperator(
            task_id="a", assignments_path="/o/votes.jsonl", fields=["label"], output="/o/labels.jsonl",
            csv_output="/o/labels.csv",
        )
    )
    op._lineage_result = {"path": "file:///o/labels.jsonl", "count": 360}
    lin = op.get_openlineage_facets_on_complete(None)
    assert keys(lin.inputs) == [("file", "/o/votes.jsonl")]
    assert keys(lin.outputs) == [("file", "/o/labels.jsonl"), ("file", "/o/labels.csv")]
    assert lin.outputs[0].outputFacets["outputStatistics"].rowCount == 360
    assert "externalQuery" not in lin.run_facets  # no Toloka object


def test_aggregation_in_toloka_names_its_operation():
    op = with_hook(TolokaAggregateSolutionsOperator(task_id="a", pool_id="3", fields=["label"], output="/o/agg.jsonl"))
    op._lineage_result = {"pool_id": "3", "operation_id": "op-1", "count": 9, "path": "file:///o/agg.jsonl"}
    lin = op.get_openlineage_facets_on_complete(None)
    assert keys(lin.inputs) == [(NS, "pools/3")]
    assert keys(lin.outputs) == [("file", "/o/agg.jsonl")]
    assert lin.run_facets["externalQuery"].externalQueryId == "op-1"
    assert lin.run_facets["toloka"].objects == {"pool_id": "3", "operation_id": "op-1"}


def test_bonuses_report_the_money_paid_in_their_own_facet():
    op = with_hook(TolokaCreateBonusesOperator(task_id="b", bonuses_path="/o/bonuses.jsonl", max_total="5"))
    # Asked for 2.50 in all; 1.00 of it an earlier try paid, one bonus refused: Toloka holds 2.00 as paid.
    op._lineage_result = {"operation_id": "op-2", "count": 4, "created": 2, "already_paid": 1, "failed": 1,
                          "total": "2.50", "paid_count": 3, "paid_total": "2.00"}
    lin = op.get_openlineage_facets_on_complete(None)
    assert keys(lin.inputs) == [("file", "/o/bonuses.jsonl")]
    spend = lin.run_facets["tolokaSpend"]
    assert (spend.spent, spend.cap, spend.currency, spend.what) == ("2.00", "5", "USD", "user bonuses")
    assert lin.run_facets["toloka"].counts == {"count": 4, "created": 2, "already_paid": 1, "failed": 1}
    assert spend._producer == lineage.PRODUCER
    assert spend._schemaURL == lineage.FACET_SCHEMA_URL + "#/$defs/TolokaSpendRunFacet"

    # No read-back (the task failed before paying): no spend facet rather than the sum asked for.
    op._lineage_result = {key: value for key, value in op._lineage_result.items() if key != "paid_total"}
    assert "tolokaSpend" not in op.get_openlineage_facets_on_complete(None).run_facets


def test_open_pool_carries_the_estimate_and_the_cap():
    from toloka_provider.steps.spend import SpendEstimate

    op = with_hook(TolokaOpenPoolOperator(task_id="o", pool_id="5", max_spend="10"))
    op._spend_estimate = SpendEstimate("5", 8, 24, 4, 6, Decimal("0.03"), Decimal(0), Decimal("0.18"))
    spend = op.get_openlineage_facets_on_complete(None).run_facets["tolokaSpend"]
    assert (spend.estimate, spend.cap, spend.spent) == ("0.18", "10", None)
    assert "6 assignments" in spend.what


def test_facets_serialize_with_producer_and_schema_url():
    from openlineage.client.serde import Serde

    facets = lineage.run_facets(NS, objects={"pool_id": "1"}, counts={"created": 2}, spend={"spent": Decimal("0.1")})
    data = json.loads(Serde.to_json(facets["toloka"]))
    assert data == {
        "_producer": lineage.PRODUCER,
        "_schemaURL": lineage.FACET_SCHEMA_URL + "#/$defs/TolokaRunFacet",
        "objects": {"pool_id": "1"},
        "counts": {"created": 2},
    }
    spend = json.loads(Serde.to_json(facets["tolokaSpend"]))
    assert spend["spent"] == "0.1" and spend["currency"] == "USD"


def test_the_facet_schema_file_describes_both_facets():
    from pathlib import Path

    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "lineage-facets.schema.json").read_text())
    assert set(schema["$defs"]) >= {"TolokaRunFacet", "TolokaSpendRunFacet"}


def test_unknown_kind_is_refused():
    op = with_hook(TolokaOpenPoolOperator(task_id="o", pool_id="5"))
    with pytest.raises(ValueError, match="kind must be one of"):
        lineage.operator_lineage(op, "sideways")


def test_without_the_extra_nothing_of_openlineage_is_imported_and_operators_work():
    """A fresh interpreter where ``openlineage`` and the OpenLineage provider cannot be imported."""
    script = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                # The package root and its get_provider_info are Airflow's provider discovery, not ours.
                if name in ("airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info"):
                    return None
                if name == "openlineage" or name.startswith(("openlineage.", "airflow.providers.openlineage.")):
                    raise ImportError("blocked: " + name)
                return None

        sys.meta_path.insert(0, Block())
        import toloka_provider.lineage, toloka_provider.metrics
        from toloka_provider.operators.tasks import TolokaCreateTasksOperator
        from toloka_provider.operators.pool import TolokaOpenPoolOperator
        from toloka_provider.operators.assignments import TolokaGetAssignmentsOperator, TolokaReviewAssignmentsOperator
        from toloka_provider.operators.aggregation import TolokaAggregateLocallyOperator
        from toloka_provider.operators.quality import TolokaCreateBonusesOperator
        TolokaCreateTasksOperator(task_id="u", pool_id="1", tasks=[])
        TolokaOpenPoolOperator(task_id="o", pool_id="1", max_spend="1")
        discovery = {"airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info"}
        loaded = sorted(
            m for m in sys.modules if m.startswith(("openlineage", "airflow.providers.openlineage")) and m not in discovery
        )
        print("LOADED", loaded)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED []" in result.stdout


def test_lineage_uses_what_execute_kept_not_a_request():
    # SettingsOnlyHook.get_conn raises: every call above would have failed had lineage asked Toloka.
    op = with_hook(TolokaGetAssignmentsOperator(task_id="f", pool_id="3", output="/o/a.jsonl"))
    assert keys(op.get_openlineage_facets_on_complete(SimpleNamespace()).outputs) == [("file", "/o/a.jsonl")]
