"""Event-driven scheduling: run once per Toloka pool that closes, with an ``AssetWatcher``.

The Asset ``toloka_pool_closed`` is watched by :class:`TolokaPoolClosedEventTrigger` in the triggerer: one
``find_pools`` request per poll over the pools of one project, one asset event per pool that closes (any close
but FOR_UPDATE). Each event starts a run of this DAG; its payload (in the event's ``extra["payload"]``) names the
pool: ``{"pool_id", "project_id", "close_reason", "last_stopped", "event_key"}``.

The run summarises the finished pool — assignments per status and the pool's close reason — into
``<output>/pool_closed/<pool_id>@<last_stopped>.json`` (``$TOLOKA_EXAMPLES_OUTPUT`` or
``<AIRFLOW_HOME>/toloka_examples``). The file is named by the event's ``event_key`` and written whole, so an event
delivered twice (e.g. from two watchers, or by hand) rewrites the same file: put
whatever must happen once per pool (a load into a warehouse, an aggregation, the next pipeline step) behind
the same key.

Settings (read at parse time, because a watcher's trigger is fixed when the DAG is parsed; use constants):
``$TOLOKA_POOL_EVENTS_PROJECT_ID`` (the project to watch), ``$TOLOKA_POOL_EVENTS_SINCE`` (optional ISO time:
pools closed after it; without it, the pools already closed when the watcher starts are skipped) and
``$TOLOKA_POOL_EVENTS_POLL_INTERVAL`` (seconds between polls, one ``find_pools`` request each; default
``$TOLOKA_EXAMPLES_POLL_INTERVAL``, else 60). The summaries go to ``$TOLOKA_EXAMPLES_OUTPUT`` with the connection
``$TOLOKA_EXAMPLES_OUTPUT_CONN_ID`` for a remote store (as the other examples).

Without a watcher event (a manual run, ``dag.test()``) the run reads the same payloads from its conf:
``{"pool_events": [payload, ...]}``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter

from airflow.sdk import DAG, Asset, AssetWatcher, ObjectStoragePath, task

from toloka_provider.triggers.pool_events import TolokaPoolClosedEventTrigger

log = logging.getLogger(__name__)

PROJECT_ID = os.environ.get("TOLOKA_POOL_EVENTS_PROJECT_ID", "your-project-id")
POLL_INTERVAL = float(
    os.environ.get("TOLOKA_POOL_EVENTS_POLL_INTERVAL") or os.environ.get("TOLOKA_EXAMPLES_POLL_INTERVAL") or "60"
)

# --8<-- [start:watcher]
pools_closed = Asset(
    name="toloka_pool_closed",
    watchers=[
        AssetWatcher(
            name="toloka_pool_closed_watcher",
            trigger=TolokaPoolClosedEventTrigger(
                project_id=PROJECT_ID,
                since=os.environ.get("TOLOKA_POOL_EVENTS_SINCE") or None,
                poll_interval=POLL_INTERVAL,
            ),
        )
    ],
)
# --8<-- [end:watcher]


def _output_root() -> ObjectStoragePath:
    root = os.environ.get("TOLOKA_EXAMPLES_OUTPUT")
    if not root:
        from airflow.sdk.configuration import conf

        root = os.path.join(conf.get("core", "airflow_home", fallback=os.path.expanduser("~/airflow")), "toloka_examples")
    if "://" not in root:
        return ObjectStoragePath("file://" + root)
    # A remote store's connection goes in the URL's user part (s3://aws_default@bucket/...), as in the other
    # examples: a bare s3:// URL would use no connection at all.
    conn_id = os.environ.get("TOLOKA_EXAMPLES_OUTPUT_CONN_ID")
    scheme, rest = root.split("://", 1)
    if conn_id and scheme != "file" and "@" not in rest.split("/", 1)[0]:
        root = f"{scheme}://{conn_id}@{rest}"
    return ObjectStoragePath(root)


def pool_events(context) -> list[dict]:
    """The payloads of the watcher events behind this run, or ``conf["pool_events"]`` for a manual run."""
    payloads = []
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            payload = (event.extra or {}).get("payload")
            if isinstance(payload, dict) and payload.get("pool_id"):
                payloads.append(payload)
    if not payloads:
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        payloads = [p for p in conf.get("pool_events") or [] if isinstance(p, dict) and p.get("pool_id")]
    return payloads


with DAG(
    dag_id="pool_closed_consumer",
    description="Summarise each Toloka pool of a project when it closes (AssetWatcher on the pools)",
    schedule=[pools_closed],
    catchup=False,
    tags=["toloka", "example"],
    default_args={"retries": 2},
    doc_md=__doc__,
) as dag:

    @task
    def summarize_closed_pools(**context) -> list[str]:
        """One summary file per closed pool (named by the event key, so a repeated event rewrites it)."""
        from toloka_provider.hooks.toloka import TolokaHook

        client = TolokaHook().get_conn()
        written = []
        for payload in pool_events(context):
            pool_id = str(payload["pool_id"])
            pool = client.get_pool(pool_id)
            statuses = Counter(str(a.status.value) for a in client.get_assignments(pool_id=pool_id))
            summary = {
                "event_key": payload.get("event_key"),
                "pool_id": pool_id,
                "project_id": payload.get("project_id"),
                "close_reason": payload.get("close_reason"),
                "last_stopped": payload.get("last_stopped"),
                "pool_name": pool.private_name,
                "assignments": dict(sorted(statuses.items())),
            }
            key = str(payload.get("event_key") or pool_id).replace("/", "_").replace(":", "-")
            target = _output_root() / "pool_closed" / f"{key}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(summary, sort_keys=True), encoding="utf-8")
            log.info("Pool %s closed (%s): %s -> %s", pool_id, summary["close_reason"], summary["assignments"], target)
            written.append(str(target))
        if not written:
            log.warning("No pool event in this run (no watcher event and no conf['pool_events'])")
        return written

    summarize_closed_pools()


# A second watcher on the same project, for completed pools only, on its own asset and DAG: on Airflow 3.3 the
# two watchers share one listing of the project in a triggerer. Defined only when $TOLOKA_POOL_EVENTS_COMPLETED is
# set (the deployment test sets it).
if os.environ.get("TOLOKA_POOL_EVENTS_COMPLETED"):
    pools_completed = Asset(
        name="toloka_pool_completed",
        watchers=[
            AssetWatcher(
                name="toloka_pool_completed_watcher",
                trigger=TolokaPoolClosedEventTrigger(
                    project_id=PROJECT_ID, close_reasons=["COMPLETED"], poll_interval=POLL_INTERVAL
                ),
            )
        ],
    )

    with DAG(
        dag_id="pool_completed_consumer",
        description="Log each completed Toloka pool of the project (a second AssetWatcher on the same project)",
        schedule=[pools_completed],
        catchup=False,
        tags=["toloka", "example"],
        default_args={"retries": 2},
    ) as completed_dag:

        @task
        def log_completed_pools(**context) -> list[str]:
            """The ids of the completed pools behind this run."""
            pool_ids = [str(payload["pool_id"]) for payload in pool_events(context)]
            log.info("Completed pools: %s", pool_ids)
            return pool_ids

        log_completed_pools()
