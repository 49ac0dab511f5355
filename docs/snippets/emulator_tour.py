"""The emulator page's in-process example, run by tests/docs/test_docs_snippets.py."""

from __future__ import annotations

from toloka_provider.client import TolokaClient


def tour(project: dict, pool_config: dict) -> dict:
    # --8<-- [start:in_process]
    from toloka_provider.emulator import TolokaEmulator

    with TolokaEmulator(seed=0, crowd=30, speed=200, faults=None) as emu:  # the command line's options
        client = TolokaClient(emu.token, url=emu.url)  # "emulator-token", "http://127.0.0.1:PORT"
        pool = client.create_pool({**pool_config, "project_id": client.create_project(project).id})
        emu.set_faults("500=0.1", paths=["/api/v1/pools/"], methods=["GET"])  # the client retries these
        emu.clear_faults()
        emu.pause_crowd()  # nobody takes work until resume_crowd(): a pool stays open, a sensor defers
        emu.resume_crowd()
        emu.advance_clock(86400)  # a day passes: expiries, auto-accept periods
        emu.bulk_load_assignments(pool.id, 1_000)  # synthetic SUBMITTED assignments, for benchmarks
        counters = emu.counters()  # requests by "METHOD /template STATUS", created objects, double_decisions
        client.close()
    # --8<-- [end:in_process]
    return counters
