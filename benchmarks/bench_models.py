"""Typed models (issue 16): client CPU to decode pages of assignments and build ``Assignment`` models, per 100k.

    python benchmarks/bench_models.py            # full run, writes benchmarks/results/models.json
    BENCH_QUICK=1 python benchmarks/bench_models.py

No HTTP in the timed part: the pages come once from the emulator (5 tasks + 5 solutions per assignment, what
``bulk-load`` makes), are kept as the raw response bytes, and every contender decodes and reads the same bytes
``N / 1,000`` times in a fresh interpreter (process CPU time, so the shared machine's waits do not count).
Every contender reads each task's input values and each solution's output values, as ``bench_fetch`` does.

- ``json.loads``: ``json.loads`` of each page and the reads on the dicts: the limit's client CPU;
- ``typed old``: ``json.loads`` and ``Assignment.from_json_dict`` through the attrs ``__init__`` with every
  converter (the compiled builders turned off: how models were built before issue 16);
- ``typed new, json``: the compiled builders, decoding with ``json.loads`` (what the builders alone gain);
- ``typed new``: what ``get_assignments`` does with a page: ``core.parse_lazy_page`` (the items split out
  undecoded, the cursor checked) and each item decoded and built when reached (``core._lazy_models``);
- ``raw``: what ``get_assignments_raw`` does with a page: ``core.parse_page`` (msgspec straight into the page's
  shape) and the cursor check, then the reads on the dicts.

Rounds alternate the contenders (the order rotates per round); figures are medians and per-round ratios.
Target: ``typed new`` >= 0.8x the speed of ``json.loads`` (client CPU only; in a real fetch the server time
comes on top of both, and the prefetch hides it for ours: the fetch targets are ``bench_fetch``'s); ``raw`` is
reported beside it.
The ``child`` sub-command is one measured pass (prints JSON).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common

PAGE = 1000
CONTENDERS = ("json.loads", "typed old", "typed new, json", "typed new", "raw")
TARGETS = {"typed new": 0.8}


# ---- one measured pass (child process) -------------------------------------------------------------------


def _attrs_path() -> None:
    """Turn the compiled builders off: every model builds through its attrs ``__init__`` (pre-issue-16)."""
    from toloka_provider.client import models

    pending = [models.BaseModel]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            sub._wire_class = None
            sub._wire_direct = None
            pending.append(sub)


def child(kind: str, pages_file: str, count: int) -> dict:
    from toloka_provider.client import core, pagination
    from toloka_provider.client.models import Assignment
    from toloka_provider.client.protocol import Response

    pages = json.loads(Path(pages_file).read_text())["pages"]
    bodies = [page.encode() for page in pages]
    passes = [bodies[index % len(bodies)] for index in range(count // PAGE)]
    if kind == "typed old":
        _attrs_path()
    loads = json.loads
    from_json_dict = Assignment.from_json_dict
    listing = pagination.ASSIGNMENTS
    total = 0
    wall = time.perf_counter()
    started = time.process_time()
    if kind == "typed new":
        for body in passes:
            response = Response(200, body)
            page = core.parse_lazy_page(response, listing)
            if page is None:
                items, _ = core.parse_page(response, listing, "/assignments")
                cursors = items
            else:
                cursors, items, _ = page
            pagination.check_advances(listing, "/assignments", cursors, None)
            for assignment in core._lazy_models(Assignment, items, response, "/assignments", ()):
                for task, solution in zip(assignment.tasks, assignment.solutions, strict=True):
                    total += len(task.input_values) + len(solution.output_values)
    elif kind == "raw":
        for body in passes:
            items, _ = core.parse_page(Response(200, body), listing, "/assignments")
            pagination.check_advances(listing, "/assignments", items, None)
            for item in items:
                for task, solution in zip(item["tasks"], item["solutions"], strict=True):
                    total += len(task["input_values"]) + len(solution["output_values"])
    elif kind == "json.loads":
        for body in passes:
            for item in loads(body)["items"]:
                for task, solution in zip(item["tasks"], item["solutions"], strict=True):
                    total += len(task["input_values"]) + len(solution["output_values"])
    else:
        for body in passes:
            for item in loads(body)["items"]:
                assignment = from_json_dict(item)
                for task, solution in zip(assignment.tasks, assignment.solutions, strict=True):
                    total += len(task.input_values) + len(solution.output_values)
    cpu = time.process_time() - started
    return {"cpu": cpu, "wall": time.perf_counter() - wall, "items": len(passes) * PAGE, "read": total}


# ---- the driver ------------------------------------------------------------------------------------------------


def fetch_pages(emulator: common.EmulatorProcess, pool_id: str, count: int) -> list[str]:
    pages: list[str] = []
    last_id = None
    while len(pages) < count:
        params = {"pool_id": pool_id, "status": "SUBMITTED", "sort": "id", "limit": PAGE}
        if last_id is not None:
            params["id_gt"] = last_id
        response = emulator.session.get(f"{emulator.url}/api/v1/assignments", params=params, timeout=60)
        response.raise_for_status()
        pages.append(response.content.decode())
        body = response.json()
        last_id = body["items"][-1]["id"]
        if not body["has_more"]:
            break
    return pages


def run(count: int | None = None, rounds: int | None = None) -> common.ScenarioResult:
    quick = common.quick()
    count = count or (20_000 if quick else 100_000)
    rounds = rounds or (2 if quick else 5)
    distinct = 2 if quick else 10  # distinct pages, cycled to reach count
    result = common.ScenarioResult("models", "Typed models: client CPU to decode and build assignments")
    with common.EmulatorProcess() as emulator:
        pool_id = emulator.pool_with_assignments(distinct * PAGE)
        pages = fetch_pages(emulator, pool_id, distinct)
    cpu: dict[str, list[float]] = {kind: [] for kind in CONTENDERS}
    with tempfile.TemporaryDirectory() as scratch:
        pages_file = Path(scratch) / "pages.json"
        pages_file.write_text(json.dumps({"pages": pages}))
        for round_index in range(rounds):
            for kind in common.rotate(CONTENDERS, round_index):
                measured = common.run_json(
                    common.OUR_PYTHON, __file__, "child", kind, str(pages_file), str(count)
                )
                per_100k = measured["cpu"] * 100_000 / measured["items"]
                cpu[kind].append(per_100k)
                common.log(f"models round {round_index + 1}/{rounds} {kind}: {per_100k:.2f} s CPU per 100k")
    result.raw.update({"count": count, "rounds": rounds, "distinct_pages": distinct, "cpu_per_100k": cpu})
    limit = cpu["json.loads"]
    for kind in ("typed new", "raw", "typed new, json", "typed old"):
        ratios = common.ratio_rounds(limit, cpu[kind])
        minimum = TARGETS.get(kind)
        value = common.median(ratios)
        result.rows.append(
            common.Row(
                scenario="models",
                metric=f"{kind} vs json.loads (client CPU) @{count // 1000}k",
                value=f"{value:.2f}x",
                target=f">= {minimum:g}x" if minimum is not None else "",
                met=(value >= minimum) if minimum is not None else None,
                detail=f"per round {common.fmt_rounds(ratios, 'x')}",
            )
        )
    build = {kind: [t - j for t, j in zip(cpu[kind], limit, strict=False)] for kind in CONTENDERS[1:4]}
    speedup = common.ratio_rounds(build["typed old"], build["typed new, json"])
    result.rows.append(
        common.Row(
            "models",
            "building: typed old / typed new (same json.loads)",
            f"{common.median(speedup):.2f}x",
            detail=f"per round {common.fmt_rounds(speedup, 'x')}; building = typed minus json.loads, s per 100k: "
            + "; ".join(f"{kind} {common.fmt_rounds(values)}" for kind, values in build.items()),
        )
    )
    result.rows.append(
        common.Row(
            "models",
            f"median CPU per 100k @{count // 1000}k",
            "",
            detail="; ".join(
                f"{kind} {common.median(cpu[kind]):.2f} s {common.fmt_rounds(cpu[kind], ' s')}"
                for kind in CONTENDERS
            ),
        )
    )
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))), flush=True)
        return
    result = run()
    result.save()
    for row in result.rows:
        print(row)


if __name__ == "__main__":
    main()
