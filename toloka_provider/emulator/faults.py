"""Fault injection: per-request failure rates by kind, optionally limited to path prefixes and methods.

Spec string (``--faults``, ``PUT /_emulator/faults``, ``emu.set_faults``)::

    500=0.1,502=0.05,503=0.05,429=0.05,429quota=0.01,drop=0.02,lost=0.01

Kinds: ``500`` (INTERNAL_ERROR JSON), ``502`` (an HTML body, like a proxy), ``503``
(REMOTE_SERVICE_UNAVAILABLE), ``429`` (TOO_MANY_REQUESTS with ``Retry-After: 1``), ``429quota`` (429 with
``payload.interval = "MIN"``), ``drop`` (the connection is closed without an answer), ``lost`` (the request
takes effect, then the connection is closed without an answer). Every kind but ``lost`` happens before the
request has any effect. Rates are probabilities per request (their sum at most 1); one seeded RNG draws
them, so a run is reproducible for a given seed and request order.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from typing import Any

FAULT_KINDS = ("500", "502", "503", "429", "429quota", "drop", "lost")


def parse_fault_spec(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"500=0.1,drop=0.02"`` or ``{"500": 0.1}`` -> ``{"500": 0.1, "drop": 0.02}``; ValueError naming the bad part."""
    if spec is None or spec == "":
        return {}
    # A rate is whatever the caller gave (a number, or text from the spec string); float() checks it below.
    pairs: list[tuple[str, Any]]
    if isinstance(spec, Mapping):
        pairs = [(str(kind), rate) for kind, rate in spec.items()]
    else:
        pairs = []
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            kind, sep, rate = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec part {part!r} is not KIND=RATE (in {spec!r})")
            pairs.append((kind.strip(), rate.strip()))
    rates: dict[str, float] = {}
    for kind, rate in pairs:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        try:
            value = float(rate)
        except (TypeError, ValueError):
            raise ValueError(f"fault rate for {kind!r} must be a number in [0, 1], got {rate!r}") from None
        if not 0 <= value <= 1:
            raise ValueError(f"fault rate for {kind!r} must be in [0, 1], got {value}")
        rates[kind] = value
    if sum(rates.values()) > 1 + 1e-9:
        raise ValueError(f"fault rates add up to {sum(rates.values()):.3f}; they must add up to at most 1")
    return rates


class FaultInjector:
    """Decides, per request, whether and which fault happens."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.rates: dict[str, float] = {}
        self.paths: tuple[str, ...] | None = None
        self.methods: frozenset[str] | None = None
        self.injected: dict[str, int] = {}

    def configure(
        self,
        spec: str | Mapping[str, float] | None,
        paths: Iterable[str] | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        rates = parse_fault_spec(spec)
        with self._lock:
            self.rates = rates
            self.paths = tuple(paths) if paths else None
            self.methods = frozenset(m.upper() for m in methods) if methods else None

    def clear(self) -> None:
        self.configure(None)

    @property
    def active(self) -> bool:
        return bool(self.rates)

    def pick(self, method: str, path: str) -> str | None:
        """The fault kind for this request, or None."""
        if not self.rates:
            return None
        if self.methods is not None and method not in self.methods:
            return None
        if self.paths is not None and not any(path.startswith(prefix) for prefix in self.paths):
            return None
        with self._lock:
            draw = self._rng.random()
            cumulative = 0.0
            for kind in FAULT_KINDS:
                cumulative += self.rates.get(kind, 0.0)
                if draw < cumulative:
                    self.injected[kind] = self.injected.get(kind, 0) + 1
                    return kind
        return None

    def describe(self) -> dict:
        with self._lock:
            return {
                "rates": dict(self.rates),
                "paths": list(self.paths) if self.paths is not None else None,
                "methods": sorted(self.methods) if self.methods is not None else None,
                "injected": dict(self.injected),
            }
