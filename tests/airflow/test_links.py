"""Extra links: names, XCom keys, and get_link reading the URL the operator pushed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from toloka_provider.links import POOL_URL_XCOM_KEY, PROJECT_URL_XCOM_KEY, TolokaPoolLink, TolokaProjectLink


def test_names_and_keys():
    assert POOL_URL_XCOM_KEY == "toloka_pool_url" and PROJECT_URL_XCOM_KEY == "toloka_project_url"
    assert (TolokaPoolLink().name, TolokaPoolLink().xcom_key) == ("Toloka Pool", "toloka_pool_url")
    assert (TolokaProjectLink().name, TolokaProjectLink().xcom_key) == ("Toloka Project", "toloka_project_url")


@pytest.mark.parametrize(("stored", "expected"), [("https://platform.toloka.ai/requester/project/1", "https://platform.toloka.ai/requester/project/1"), (None, "")])
def test_get_link_returns_the_pushed_url_or_empty(monkeypatch, stored, expected):
    from airflow.sdk.execution_time.xcom import XCom

    asked = []

    def fake_get_value(*, ti_key, key):
        asked.append((ti_key, key))
        return stored

    monkeypatch.setattr(XCom, "get_value", fake_get_value)
    ti_key = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)
    assert TolokaProjectLink().get_link(operator=None, ti_key=ti_key) == expected
    assert asked == [(ti_key, "toloka_project_url")]


def test_persist_pushes_under_the_link_key():
    pushed = []
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.append((key, value)))
    TolokaPoolLink.persist({"ti": ti}, "http://127.0.0.1:1/requester/project/1/pool/2")
    TolokaPoolLink.persist({"ti": ti}, None)
    assert pushed == [("toloka_pool_url", "http://127.0.0.1:1/requester/project/1/pool/2")]


def test_links_serialize_with_an_operator():
    from airflow.sdk import BaseOperator
    from airflow.serialization.serialized_objects import OperatorSerialization

    class LinkedOperator(BaseOperator):
        operator_extra_links = (TolokaPoolLink(), TolokaProjectLink())

    encoded = OperatorSerialization._serialize_operator_extra_links(LinkedOperator.operator_extra_links)
    assert encoded == {"Toloka Pool": "toloka_pool_url", "Toloka Project": "toloka_project_url"}
