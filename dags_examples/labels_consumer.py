"""Data-aware scheduling: run whenever ``text_classification`` publishes new labels, and summarise them.

Scheduled on the Asset ``toloka_support_ticket_labels``, named in full (name and URI, the same pair as in
``text_classification.py``). Not ``Asset.ref(name=...)``: Airflow 3 queues a run for a reference but attaches
the asset events only to assets scheduled on directly, so the run found no events and read nothing. The URI is
a fixed identifier, not where the labels are: each asset event carries the producing run's files in its
``extra``; this DAG reads the labels file of every event that triggered it and logs how many tickets got each
label and how many of them the crowd was unsure about. Replace the logging with whatever consumes your labels (a training job, a load
into a warehouse table, ...).
"""

from __future__ import annotations

import json
import logging
from collections import Counter

from airflow.sdk import DAG, Asset, ObjectStoragePath, task

log = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.7
#: The producer's asset (text_classification.LABELS_ASSET): name and URI must match it exactly.
LABELS_ASSET = Asset(name="toloka_support_ticket_labels", uri="toloka-examples://text_classification/labels", group="toloka")

with DAG(
    dag_id="labels_consumer",
    description="Summarise the support-ticket labels each time text_classification publishes them",
    schedule=[LABELS_ASSET],
    catchup=False,
    tags=["toloka", "example"],
    default_args={"retries": 2},
    doc_md=__doc__,
) as dag:

    @task
    def summarize_labels(**context) -> list[dict]:
        """One summary per triggering asset event: label counts and low-confidence tickets."""
        summaries = []
        for events in context["triggering_asset_events"].values():
            for event in events:
                labels_url = (event.extra or {}).get("labels_jsonl")
                if not labels_url:
                    log.warning("Asset event %s carries no labels_jsonl in its extra; skipped", event)
                    continue
                counts: Counter = Counter()
                unsure = 0
                with ObjectStoragePath(labels_url).open("r", encoding="utf-8") as stream:
                    for line in stream:
                        if not line.strip():
                            continue
                        row = json.loads(line)
                        counts[row.get("label")] += 1
                        unsure += int(float(row.get("confidence") or 0.0) < LOW_CONFIDENCE)
                total = sum(counts.values())
                log.info(
                    "%s: %d labels %s; %d below confidence %.1f",
                    labels_url, total, dict(counts.most_common()), unsure, LOW_CONFIDENCE,
                )  # fmt: skip
                summaries.append({"labels": labels_url, "total": total, "counts": dict(counts), "unsure": unsure})
        return summaries

    summarize_labels()
