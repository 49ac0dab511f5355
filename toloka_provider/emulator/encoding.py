"""JSON encoding of answers, and :class:`FrozenJSONList`, a read-only list kept as its encoded JSON text.

Most of the CPU of a page of assignments went into encoding their tasks and solutions, and most of the
memory of a bulk-loaded assignment into the task dicts. A :class:`FrozenJSONList` holds such a list as
its compact JSON text (a third of the memory of the dicts), decodes it when Python code reads it (it is a
``Sequence``: iterate, index, ``len``, compare with a list) and is copied into an answer as is by
:func:`dumps`: the C encoder writes a marker string in its place, and the marker is replaced by the text.

It is for lists nobody changes after they are made (the bulk loader's shared tasks and answer sets); the
standard library's ``json.dumps`` does not know it (use ``list(value)`` there).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


class FrozenJSONList(Sequence):
    """A list stored as its JSON text; decoded on each read, spliced into answers without re-encoding."""

    __slots__ = ("_length", "encoded")

    def __init__(self, items: Iterable[Any]) -> None:
        values = list(items)
        self.encoded = _COMPACT.encode(values)
        self._length = len(values)

    @classmethod
    def _restore(cls, encoded: str, length: int) -> FrozenJSONList:
        frozen = cls.__new__(cls)
        frozen.encoded, frozen._length = encoded, length
        return frozen

    def __reduce__(self) -> tuple:
        return (FrozenJSONList._restore, (self.encoded, self._length))

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        return json.loads(self.encoded)[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(json.loads(self.encoded))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenJSONList):
            return self.encoded == other.encoded
        if isinstance(other, (list, tuple)):
            return json.loads(self.encoded) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrozenJSONList({json.loads(self.encoded)!r})"


# The marker the encoder writes for a FrozenJSONList: a JSON string no client sends (NUL, a per-process
# nonce, NUL), so that splitting the output on it finds exactly the places to fill.
_NONCE = uuid.uuid4().hex
_MARKER_VALUE = f"\x00{_NONCE}\x00"
_MARKER = json.dumps(_MARKER_VALUE)
_local = threading.local()


def _json_default(value: Any) -> Any:
    if type(value) is FrozenJSONList:
        fragments = getattr(_local, "fragments", None)
        if fragments is None:  # outside dumps (someone else's encoder): the plain list
            return json.loads(value.encoded)
        fragments.append(value.encoded)
        return _MARKER_VALUE
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Built once: no whitespace, no circularity bookkeeping (our bodies are trees), UTF-8 as is.
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, check_circular=False, default=_json_default
)


def dumps(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON, with every FrozenJSONList copied in from its text."""
    fragments: list[str] = []
    _local.fragments = fragments
    try:
        text = _ENCODER.encode(body)
    finally:
        _local.fragments = None
    if fragments:
        parts = text.split(_MARKER)
        if len(parts) != len(fragments) + 1:  # a client's string equal to the marker: encode the slow way
            _local.fragments = None
            text = _ENCODER.encode(body)
        else:
            joined: list[str] = [""] * (2 * len(parts) - 1)
            joined[::2] = parts
            joined[1::2] = fragments
            text = "".join(joined)
    # A lone surrogate (a client may send "\\ud800") cannot be UTF-8: write it back as the same JSON escape.
    return text.encode("utf-8", "backslashreplace")
