"""Shared test helper: plain ``requests`` calls against the emulator (never our client), with auth and /api/v1."""

from __future__ import annotations

import time

import requests


class Api:
    """``api.get("/pools/1")``, ``api.post("/projects", json=...)``: the emulator's /api/v1 with an auth header."""

    def __init__(self, emulator, scheme: str = "ApiKey") -> None:
        self.emulator = emulator
        self.base = emulator.url + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"{scheme} {emulator.token}"

    def __getattr__(self, method):
        return lambda path, **kwargs: self.session.request(method.upper(), self.base + path, timeout=10, **kwargs)

    def wait_operation(self, op_id: str, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            op = self.get(f"/operations/{op_id}").json()
            if op["status"] in ("SUCCESS", "FAIL"):
                return op
            assert time.monotonic() < deadline, f"operation {op_id} still {op['status']}"
            time.sleep(0.01)
