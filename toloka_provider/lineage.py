"""OpenLineage for the Toloka operators: dataset names, run facets, and the ``OperatorLineage`` they return.

The operators' ``get_openlineage_facets_on_*`` methods call :func:`operator_lineage`; it builds the answer
from the operator's arguments and what ``execute`` kept on the operator, never from a request of its own.
Everything from OpenLineage is imported inside the functions: without the ``[openlineage]`` extra this module
loads, imports nothing of OpenLineage, and nothing calls into it (Airflow asks only when the extra is there).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from toloka_provider import __version__
from toloka_provider.client.environment import resolve_base_url

#: The ``_producer`` of the facets this provider defines.
PRODUCER = f"https://pypi.org/project/toloka-airflow-provider/{__version__}/"
#: Where the JSON Schemas of this provider's facets live (``docs/lineage-facets.schema.json`` of the release).
FACET_SCHEMA_URL = (
    f"https://pypi.org/project/toloka-airflow-provider/{__version__}/lineage-facets.schema.json"
)

#: Operator kinds :func:`operator_lineage` knows.
UPLOAD, OPEN, FETCH, REVIEW, AGGREGATE_LOCALLY, AGGREGATE_IN_TOLOKA, BONUSES = (
    "upload", "open", "fetch", "review", "aggregate_locally", "aggregate_in_toloka", "bonuses",
)  # fmt: skip


# ----------------------------------------------------------------------------------------------------------
# Names


def toloka_namespace(api_url: str) -> str:
    """``toloka://<api host>`` (with the port, when the URL has one) for the API at ``api_url``."""
    parts = urlsplit(api_url)
    if not parts.hostname:
        raise ValueError(f"api_url must be an http(s) URL with a host, got {api_url!r}")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return f"toloka://{host}"


def file_uri(path: Any) -> str:
    """The URI of a file or object-storage path, as the ``ObjectStoragePath`` the operator uses prints it.

    A bare path becomes ``file://`` and its absolute path; a URL is kept as it is, the connection id in its
    user part (``s3://aws_default@bucket/key``) included: Airflow's hook-level lineage names the file from
    that same string, and one file must have one name in the graph. A password in the user part
    (``https://user:secret@host/...``) is never kept, nor a query or fragment (they may carry a signed token).
    """
    text = str(path)
    if "://" not in text:
        return "file://" + os.path.abspath(text)
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _translated(uri: str) -> Any:
    """The ``Dataset`` the OpenLineage provider makes of an ``Asset`` with ``uri``, or None when it makes none."""
    try:
        from airflow.sdk import Asset
    except ImportError:
        return None
    try:  # where the OpenLineage provider's extractor manager takes it from, else its own home
        from airflow.providers.common.compat.openlineage.utils.utils import translate_airflow_asset
    except ImportError:
        try:
            from airflow.providers.openlineage.utils.utils import translate_airflow_asset
        except ImportError:
            return None
    try:
        return translate_airflow_asset(Asset(uri=uri), None)
    except Exception:  # a URI Airflow's Asset or a converter refuses: named by the fallback rule
        return None


def file_dataset(path: Any) -> Any:
    """The OpenLineage ``Dataset`` of a file: named as OpenLineage names an Airflow ``Asset`` with its URI.

    The URI (:func:`file_uri`) goes through the OpenLineage provider's asset translation, the same call its
    hook-level lineage makes for the files an ``ObjectStoragePath`` reads or writes in any task, so an operator's
    file and a ``@task``'s file with the same URL get the same name (``s3://aws_default@bucket/key`` is namespace
    ``s3://aws_default@bucket``, name ``key``, as the Amazon provider's converter names it today). Where nothing
    translates the URI (no converter for its scheme, or none installed), the name follows OpenLineage's naming
    spec: ``file`` and the absolute path, or ``<scheme>://<host>`` and the key, without a user part.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    uri = file_uri(path)
    translated = _translated(uri)
    if translated is not None:
        return Dataset(namespace=translated.namespace, name=translated.name)
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Dataset(namespace="file", name=parts.path)
    host = parts.netloc.rsplit("@", 1)[-1]
    return Dataset(namespace=f"{parts.scheme}://{host}", name=parts.path.lstrip("/"))


def toloka_dataset(namespace: str, kind: str, object_id: Any) -> Any:
    """A Toloka object as a dataset: ``toloka://<host>``, ``pools/<id>`` (``projects/<id>``, ...)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=namespace, name=f"{kind}/{object_id}")


# ----------------------------------------------------------------------------------------------------------
# Facets of our own


@functools.cache
def facet_classes() -> tuple[type, type]:
    """``(TolokaRunFacet, TolokaSpendRunFacet)``, defined on first use (they subclass OpenLineage's RunFacet)."""
    import attr
    from airflow.providers.common.compat.openlineage.facet import RunFacet

    @attr.define
    class TolokaRunFacet(RunFacet):  # type: ignore[misc, valid-type, unused-ignore]
        """The Toloka objects a task worked on (``pool_id``, ``project_id``, ``operation_id``) and its counts."""

        objects: dict = attr.field(factory=dict)
        counts: dict = attr.field(factory=dict)

        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            self._producer = PRODUCER

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA_URL + "#/$defs/TolokaRunFacet"

    @attr.define
    class TolokaSpendRunFacet(RunFacet):  # type: ignore[misc, valid-type, unused-ignore]
        """Money: ``spent`` (what the task paid, read back from Toloka's answers), or an ``estimate`` before
        opening a pool with the ``cap`` it was checked against; amounts as decimal strings, USD."""

        spent: str | None = None
        estimate: str | None = None
        cap: str | None = None
        currency: str = "USD"
        what: str = ""

        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            self._producer = PRODUCER

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA_URL + "#/$defs/TolokaSpendRunFacet"

    return TolokaRunFacet, TolokaSpendRunFacet


def _money(value: Any) -> str | None:
    return None if value is None else str(Decimal(str(value)))


def run_facets(
    namespace: str,
    *,
    objects: Mapping[str, Any],
    counts: Mapping[str, Any] | None = None,
    spend: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``externalQuery`` (the pool, or the operation, in Toloka), ``toloka`` (ids and counts), ``tolokaSpend``."""
    from airflow.providers.common.compat.openlineage.facet import ExternalQueryRunFacet

    run_facet, spend_facet = facet_classes()
    ids = {key: str(value) for key, value in objects.items() if value is not None}
    facets: dict[str, Any] = {}
    external = ids.get("operation_id") or ids.get("pool_id") or ids.get("project_id")
    if external:
        facets["externalQuery"] = ExternalQueryRunFacet(externalQueryId=external, source=namespace)
    facets["toloka"] = run_facet(objects=ids, counts=dict(counts or {}))
    if spend:
        facets["tolokaSpend"] = spend_facet(
            spent=_money(spend.get("spent")),
            estimate=_money(spend.get("estimate")),
            cap=_money(spend.get("cap")),
            what=str(spend.get("what") or ""),
        )
    return facets


# ----------------------------------------------------------------------------------------------------------
# What each operator read and wrote


def api_url_of(operator: Any) -> str:
    """The API base URL of the operator's connection (read from the connection; no Toloka request)."""
    settings = operator.hook.get_connection_settings()
    if settings.url:
        return resolve_base_url(None, settings.url)
    return resolve_base_url((settings.environment or "production").upper(), None)


def _count_of(result: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        return {}
    return {key: result[key] for key in keys if isinstance(result.get(key), (int, float, str))}


def _written(dataset: Any, rows: Any) -> Any:
    """``dataset`` as an ``OutputDataset`` with an ``outputStatistics`` output facet when the row count is known."""
    if not isinstance(rows, int) or isinstance(rows, bool):
        return dataset
    from airflow.providers.common.compat.openlineage.facet import (
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )

    facets: dict[str, Any] = {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows)}
    return OutputDataset(namespace=dataset.namespace, name=dataset.name, outputFacets=facets)


class ReportsLineage:
    """Mixin of the operators that move data: the OpenLineage provider's three methods, from ``lineage_kind``.

    ``execute`` keeps what it returned in ``self._lineage_result`` (ids and counts); nothing is asked of Toloka.
    """

    lineage_kind: str = ""

    def get_openlineage_facets_on_start(self) -> Any:
        return operator_lineage(self, self.lineage_kind)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return operator_lineage(self, self.lineage_kind, getattr(self, "_lineage_result", None))

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self.get_openlineage_facets_on_complete(task_instance)


def operator_lineage(operator: Any, kind: str, result: Any = None) -> Any:
    """The ``OperatorLineage`` of one of the provider's operators.

    ``kind`` is one of the constants above; ``result`` is what ``execute`` returned (None on start, or when the
    task failed before it finished): ids and counts come from it, so nothing is asked of Toloka here.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    namespace = toloka_namespace(api_url_of(operator))
    result = result if isinstance(result, Mapping) else {}
    pool_id = getattr(operator, "pool_id", None) or result.get("pool_id")
    pool = [toloka_dataset(namespace, "pools", pool_id)] if pool_id else []
    inputs: list[Any] = []
    outputs: list[Any] = []
    objects: dict[str, Any] = {"pool_id": pool_id}
    counts: dict[str, Any] = {}
    spend: dict[str, Any] | None = None

    if kind == UPLOAD:
        if getattr(operator, "tasks_path", None):
            inputs.append(file_dataset(operator.tasks_path))
        outputs = pool
        counts = _count_of(result, "created", "failed")
    elif kind == OPEN:
        outputs = pool
        estimate = getattr(operator, "_spend_estimate", None)
        if estimate is not None:
            spend = {"estimate": estimate.total, "cap": getattr(operator, "max_spend", None), "what": estimate.explain()}
    elif kind == FETCH:
        inputs = pool
        if getattr(operator, "output_path", None):
            outputs.append(_written(file_dataset(result.get("path") or operator.output_path), result.get("count")))
        counts = _count_of(result, "count")
    elif kind == REVIEW:
        if getattr(operator, "assignments_path", None):
            inputs.append(file_dataset(operator.assignments_path))
        else:
            inputs = list(pool)
        outputs = list(pool)
        if getattr(operator, "worker_stats_path", None):
            outputs.append(file_dataset(result.get("worker_stats_path") or operator.worker_stats_path))
        counts = _count_of(result, "accepted", "rejected", "skipped", "already_done", "failed")
    elif kind == AGGREGATE_LOCALLY:
        inputs.append(file_dataset(operator.assignments_path))
        outputs.append(_written(file_dataset(result.get("path") or operator.output_path), result.get("count")))
        for extra in ("csv_output", "worker_quality_output"):
            if getattr(operator, extra, None):
                outputs.append(file_dataset(getattr(operator, extra)))
        counts = _count_of(result, "count")
    elif kind == AGGREGATE_IN_TOLOKA:
        inputs = pool
        outputs.append(_written(file_dataset(result.get("path") or operator.output_path), result.get("count")))
        objects["operation_id"] = result.get("operation_id")
        counts = _count_of(result, "count")
    elif kind == BONUSES:
        for argument in ("bonuses_path", "statistics_path"):
            if getattr(operator, argument, None):
                inputs.append(file_dataset(getattr(operator, argument)))
        objects["operation_id"] = result.get("operation_id")
        counts = _count_of(result, "count", "created", "already_paid", "failed")
        # What Toloka holds as paid by this task instance (read back after paying), never the sum asked for.
        if result.get("paid_total") is not None:
            spend = {"spent": result["paid_total"], "cap": getattr(operator, "max_total", None), "what": "user bonuses"}
    else:
        raise ValueError(f"kind must be one of upload, open, fetch, review, aggregate_locally, "
                         f"aggregate_in_toloka, bonuses; got {kind!r}")
    facets = run_facets(namespace, objects=objects, counts=counts, spend=spend)
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=facets)
