"""Typed models of the Toloka API objects (attrs classes) and their JSON wire form.

Every model derives from :class:`BaseModel` and offers

* keyword construction with ``None`` defaults, so a request body can be built in Python:
  ``Pool(project_id="1", private_name="x", reward_per_assignment=Decimal("0.01"), ...)``;
* ``Model.from_json_dict(data)`` for a decoded JSON object from the API, and
* ``model.to_json_dict()``, a JSON-safe dict (the request body for create/update, and the XCom form):
  datetimes in the wire form of :func:`~toloka_provider.client.dates.format_datetime`, ``Decimal`` as a
  JSON number, enums as their string, ``None`` fields left out, unknown fields sent back.

``from_json_dict(m.to_json_dict()) == m`` holds for every model, also after ``json.dumps``/``json.loads``.

Field names are the wire names. Ids are ``str``; datetimes are aware UTC ``pendulum.DateTime``
(naive input counts as UTC); money (rewards, amounts, balances, prices, costs) is ``Decimal``, converted
from int/float/str through ``str()`` so that ``0.01`` stays ``Decimal("0.01")``. Keys the model does not
know are kept in ``unknown_fields`` and written back, so a GET-modify-PUT never drops what a newer API
version added. Enum fields accept values this code does not know: they parse to an ad-hoc member of
the enum whose value is the received string, and serialise back to it.

Lists of nested models (``Assignment.tasks``, ``Assignment.solutions``, ``TaskSuite.tasks``...) given as plain
dicts are built on the first read of the attribute, not with their parent: a fetch that reads only some of
them does not pay for the rest. Reading is the same as for a built list (it is one: built once, then kept);
the difference shows only for a bad value inside a nested dict, whose error (naming the model and field)
comes at that first read. The shape is still checked at once: a value that is not a list, or an item that
is neither a dict nor a model, raises when the parent is built.

Values are converted when the object is built (``__init__`` and ``from_json_dict``), not on later
attribute assignment: assignment stays a plain slot write because parsing hundreds of thousands of
assignments per export is the hot path. ``to_json_dict`` is lenient about such later values (a float
reward, a str datetime) and still writes the wire form.

``from_json_dict`` of a plain ``dict`` runs a builder compiled once per class (and per set of keys met; see
``_compile_wire_builder``) instead of the attrs ``__init__``: same converters, same values and errors, about half
the cost. The attrs ``__init__`` stays the reference path (``_from_json_dict_attrs``, and keyword construction).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar, overload

import attrs
import pendulum

from toloka_provider.client.dates import format_datetime, parse_datetime
from toloka_provider.client.errors import FailedOperationError

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        """Run-time stand-in: the marker only tells type checkers that ``_model`` makes attrs classes."""
        return lambda decorated: decorated

__all__ = [
    "AggregatedSolution",
    "AllProjectsUserRestriction",
    "App",
    "AppBatch",
    "AppBatchStatus",
    "AppItem",
    "AppItemStatus",
    "AppProject",
    "AppProjectStatus",
    "Assignment",
    "AssignmentStatus",
    "AssignmentsIssuingType",
    "Attachment",
    "BaseModel",
    "BatchCreateResult",
    "CloneResults",
    "Folder",
    "Interlocutor",
    "InterlocutorRole",
    "Message",
    "MessageThread",
    "OpenStrEnum",
    "Operation",
    "OperationLogItem",
    "OperationStatus",
    "OperationType",
    "Owner",
    "Pool",
    "PoolCloseReason",
    "PoolStatus",
    "PoolUserRestriction",
    "Project",
    "ProjectStatus",
    "ProjectUpdateDifferenceLevel",
    "ProjectUserRestriction",
    "RecipientsSelectType",
    "Requester",
    "SearchResult",
    "Skill",
    "Solution",
    "SystemUserRestriction",
    "Task",
    "TaskSuite",
    "Training",
    "User",
    "UserBonus",
    "UserRestriction",
    "UserRestrictionScope",
    "UserSkill",
    "WebhookEventType",
    "WebhookSubscription",
    "WebhookTestResult",
    "to_decimal",
    "to_jsonable",
]

ModelT = TypeVar("ModelT", bound="BaseModel")

# Bound once: the datetime converter's fast path runs for every datetime of every assignment.
_DateTime = pendulum.DateTime
_UTC = pendulum.UTC
_fromisoformat = datetime.fromisoformat


# --------------------------------------------------------------------------------------------------
# Enums


class OpenStrEnum(str, Enum):
    """A ``str`` enum that also accepts values it does not list.

    Toloka adds statuses and operation types over time; a value this code does not know must not
    break parsing. ``MyEnum("NEW_VALUE")`` returns an ad-hoc member whose ``value`` and ``name`` are
    that string (cached, so it is a singleton like the real members) and that compares equal to it.
    ``str()`` and f-strings give the value, as for :class:`enum.StrEnum`.
    """

    __str__ = str.__str__
    __format__ = str.__format__  # type: ignore[assignment]

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        # Cache it where Enum looks values up, so the next lookup is a plain dict hit.
        return cls._value2member_map_.setdefault(value, member)


class ProjectStatus(OpenStrEnum):
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"


class ProjectUpdateDifferenceLevel(OpenStrEnum):
    """How a project update would change the project (``check_update_project_for_major_version_change``)."""

    EQUAL = "EQUAL"
    BREAKING_CHANGE = "BREAKING_CHANGE"
    NON_BREAKING_CHANGE = "NON_BREAKING_CHANGE"


class AssignmentsIssuingType(OpenStrEnum):
    AUTOMATED = "AUTOMATED"
    MAP_SELECTOR = "MAP_SELECTOR"


class PoolStatus(OpenStrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    ARCHIVED = "ARCHIVED"
    LOCKED = "LOCKED"


class PoolCloseReason(OpenStrEnum):
    MANUAL = "MANUAL"
    EXPIRED = "EXPIRED"
    COMPLETED = "COMPLETED"
    NOT_ENOUGH_BALANCE = "NOT_ENOUGH_BALANCE"
    ASSIGNMENTS_LIMIT_EXCEEDED = "ASSIGNMENTS_LIMIT_EXCEEDED"
    BLOCKED = "BLOCKED"
    FOR_UPDATE = "FOR_UPDATE"


class AssignmentStatus(OpenStrEnum):
    ACTIVE = "ACTIVE"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    SKIPPED = "SKIPPED"
    EXPIRED = "EXPIRED"


class OperationStatus(OpenStrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"


class OperationType(OpenStrEnum):
    PROJECT_ARCHIVE = "PROJECT.ARCHIVE"
    POOL_OPEN = "POOL.OPEN"
    POOL_CLOSE = "POOL.CLOSE"
    POOL_ARCHIVE = "POOL.ARCHIVE"
    POOL_CLONE = "POOL.CLONE"
    TRAINING_OPEN = "TRAINING.OPEN"
    TRAINING_CLOSE = "TRAINING.CLOSE"
    TRAINING_ARCHIVE = "TRAINING.ARCHIVE"
    TRAINING_CLONE = "TRAINING.CLONE"
    TASK_BATCH_CREATE = "TASK.BATCH_CREATE"
    TASK_SUITE_BATCH_CREATE = "TASK_SUITE.BATCH_CREATE"
    USER_BONUS_BATCH_CREATE = "USER_BONUS.BATCH_CREATE"
    SOLUTION_AGGREGATE = "SOLUTION.AGGREGATE"
    KNOWN_SOLUTIONS_GENERATE = "KNOWN_SOLUTIONS.GENERATE"
    ANALYTICS = "ANALYTICS"


class AppProjectStatus(OpenStrEnum):
    CREATING = "CREATING"
    READY = "READY"
    ARCHIVED = "ARCHIVED"
    ERROR = "ERROR"


class AppBatchStatus(OpenStrEnum):
    NEW = "NEW"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    NO_MONEY = "NO_MONEY"
    ARCHIVE = "ARCHIVE"
    LOADING = "LOADING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class AppItemStatus(OpenStrEnum):
    NEW = "NEW"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    ARCHIVE = "ARCHIVE"
    NO_MONEY = "NO_MONEY"
    STOPPED = "STOPPED"


# --------------------------------------------------------------------------------------------------
# Converters (value -> model attribute). Each factory takes ``where`` ("Pool.created"), the name used in
# error messages, and returns a one-argument converter; the model decorator binds one per field when the
# class is created. The common case (right type already, or None) returns at the first test.

_Converter = Callable[[Any], Any]


def _id_converter(where: str) -> _Converter:
    def convert(value: Any) -> str | None:
        if value is None or type(value) is str:
            return value
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # e.g. project_id=123 typed by hand; the API always uses strings
        raise TypeError(f"{where}: expected an id (str), got {type(value).__name__}: {value!r}")

    return convert


def _datetime_converter(where: str) -> _Converter:
    def convert(value: Any) -> pendulum.DateTime | None:
        if value is None:
            return None
        if type(value) is str:
            # Inlined fast path of parse_datetime for the server's usual naive-UTC form (the hot path).
            try:
                parsed = _fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                # tzinfo positionally: as a keyword it costs two thirds more here.
                return _DateTime(
                    parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second,
                    parsed.microsecond, _UTC,
                )  # fmt: skip
        try:
            return parse_datetime(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from None

    return convert


def to_decimal(value: Any) -> Decimal:
    """Money from JSON or Python: Decimal/int/float/numeric str, through ``str()`` so 0.01 stays 0.01.

    Raises ``TypeError`` for other types (bool included) and ``ValueError`` for non-numeric strings
    and non-finite values.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number (Decimal, int, float or numeric str), got {type(value).__name__}: {value!r}")
    else:
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"expected a number, got {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


# Money parsed from JSON floats, by float. A pool's assignments mostly share a handful of rewards, and
# Decimal(repr(x)) is the dearest step of building an assignment after its datetimes; Decimals are immutable,
# so sharing one is safe. Zero stays out (0.0 and -0.0 are one key but two Decimals); the size is capped.
_DECIMAL_OF_FLOAT: dict[float, Decimal] = {}
_DECIMAL_OF_FLOAT_MAX = 4096


def _decimal_converter(where: str) -> _Converter:
    cached = _DECIMAL_OF_FLOAT.get

    def convert(value: Any) -> Decimal | None:
        if value is None:
            return None
        if type(value) is float:  # what the JSON decoder gives for money by default: the fast path
            result = cached(value)
            if result is not None:
                return result
            result = Decimal(repr(value))
            if result.is_finite():
                if value and len(_DECIMAL_OF_FLOAT) < _DECIMAL_OF_FLOAT_MAX:
                    _DECIMAL_OF_FLOAT[value] = result
                return result
        elif type(value) is Decimal and value.is_finite():
            return value
        try:
            return to_decimal(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: {exc}") from None

    return convert


def _float_converter(where: str) -> _Converter:
    def convert(value: Any) -> float | None:
        if value is None or type(value) is float:
            return value
        if isinstance(value, (int, Decimal, str)) and not isinstance(value, bool):
            try:
                result = float(value)
            except ValueError:
                result = math.nan
            if math.isfinite(result):
                return result
        raise TypeError(f"{where}: expected a finite number, got {type(value).__name__}: {value!r}")

    return convert


def _enum_converter(enum_class: type[OpenStrEnum]) -> Callable[[str], _Converter]:
    # Enum's own lookup (EnumClass(value)) costs ten times this dict hit; unknown values still go
    # through it, and _missing_ then caches them in this same map.
    lookup = enum_class._value2member_map_.get

    def bind(where: str) -> _Converter:
        def convert(value: Any) -> OpenStrEnum | None:
            if value is None or type(value) is enum_class:
                return value
            if isinstance(value, str):
                return lookup(value) or enum_class(value)  # type: ignore[return-value]
            raise TypeError(
                f"{where}: expected a {enum_class.__name__} or its string value, got {type(value).__name__}: {value!r}"
            )

        return convert

    return bind


def _model_converter(model_class: type[BaseModel]) -> Callable[[str], _Converter]:
    def bind(where: str) -> _Converter:
        def convert(value: Any) -> BaseModel | None:
            if value is None or isinstance(value, model_class):
                return value
            if isinstance(value, Mapping):
                return model_class.from_json_dict(value)
            raise TypeError(
                f"{where}: expected a {model_class.__name__} or a dict, got {type(value).__name__}: {value!r}"
            )

        return convert

    return bind


class _Unbuilt(tuple):
    """``(items,)``: the decoded dicts of a nested model list whose models are not built yet (see
    :class:`_LazyModelList`). A tuple subclass, so making one is a C call, not a Python ``__init__``."""

    __slots__ = ()


class _LazyModelList:
    """Data descriptor over a nested model list's slot that builds the models on first read.

    A fetched assignment carries five tasks and five solutions; building those eleven objects per assignment
    was most of the typed fetch, and many callers read only some of them (or none). The converter keeps a
    plain list of dicts as :class:`_Unbuilt`; the first read of the attribute (direct, or through ``==``,
    ``repr``, ``to_json_dict``, pickling, ``attrs.evolve``...) builds the list with the field's eager converter
    and stores it in the slot, so later reads return that same list and changes to it stick. A bad value
    inside a nested object therefore raises (naming the model and field) at that first read, not at parse time.
    """

    __slots__ = ("build", "get", "set", "slot")

    def __init__(self, slot: Any, build: _Converter) -> None:
        self.slot = slot  # the slot's member descriptor that attrs made: where the value lives
        self.build = build
        self.get = slot.__get__  # bound once: every read of the attribute comes through here
        self.set = slot.__set__

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self.slot
        value = self.get(instance, owner)
        if type(value) is _Unbuilt:
            value = self.build(value[0])
            self.set(instance, value)
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        self.set(instance, value)

    def __delete__(self, instance: Any) -> None:
        self.slot.__delete__(instance)


def _lazy_model_list_converter(model_class: type[BaseModel]) -> Callable[[str], _Converter]:
    eager = _model_list_converter(model_class)

    def bind(where: str) -> _Converter:
        convert_now = eager(where)

        def convert(value: Any) -> Any:
            # A list of plain dicts (what the JSON decoder gives) is kept for later; anything else (models,
            # other mappings, tuples, bad values) is converted, or rejected, at once as before. The compiled
            # wire builders inline this test (kind "lazy") and call here only when it fails.
            if type(value) is list:
                for item in value:
                    if type(item) is not dict:
                        break
                else:
                    return _Unbuilt((value,))
            return convert_now(value)

        return convert

    return bind


def _model_list_converter(model_class: type[BaseModel]) -> Callable[[str], _Converter]:
    def bind(where: str) -> _Converter:
        expected = f"{where}: expected a list of {model_class.__name__} or dicts"
        from_json = model_class.from_json_dict

        def convert_item(item: Any) -> BaseModel:
            if isinstance(item, model_class):
                return item
            if isinstance(item, Mapping):
                return from_json(item)
            raise TypeError(f"{expected}, got an item of type {type(item).__name__}: {item!r}")

        def convert(value: Any) -> list[BaseModel] | None:
            if value is None:
                return None
            if type(value) is list:
                # The compiled builder straight away (five tasks and five solutions per assignment come through
                # here), items in order, so the first bad item raises as in the loop below.
                build = model_class._wire_build if model_class._wire_direct is model_class else from_json
                return [build(item) if type(item) is dict else convert_item(item) for item in value]
            if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
                raise TypeError(f"{expected}, got {type(value).__name__}: {value!r}")
            items = []
            for item in value:
                items.append(from_json(item) if type(item) is dict else convert_item(item))
            return items

        return convert

    return bind


# --------------------------------------------------------------------------------------------------
# Writers (model attribute -> JSON value). None never reaches them: None fields are left out.


def to_jsonable(value: Any) -> Any:
    """Turn a value into plain JSON types (recursively): what ``json.dumps`` accepts as it is.

    Decimal -> float, datetime -> wire string, enum -> its value, model -> its ``to_json_dict()``,
    tuples -> lists. Plain-dict fields (configs, ``input_values``...) go through this, because a
    client that parses floats as ``Decimal`` or a user who writes a datetime inside a dict must
    still get a JSON-safe body. Raises ``TypeError`` naming the type for anything else.
    """
    value_type = type(value)
    if value_type is str or value_type is int or value_type is float or value_type is bool or value is None:
        return value
    if value_type is dict:
        return {key if type(key) is str else str(key): to_jsonable(item) for key, item in value.items()}
    if value_type is list or value_type is tuple:
        return [to_jsonable(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.to_json_dict()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bool):  # subclasses of the plain types (after Enum: IntEnum is handled above)
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (datetime, date)):
        return format_datetime(value)
    if isinstance(value, Mapping):
        return {key if type(key) is str else str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item) for item in value]
    raise TypeError(f"Cannot write a {value_type.__name__} as JSON: {value!r:.200}")


def _write_id(value: Any) -> Any:
    return value if type(value) is str else str(value)


def _write_datetime(value: Any) -> str:
    return format_datetime(value)


def _write_decimal(value: Any) -> float:
    # A JSON number. float(Decimal("0.01")) prints as 0.01, so money values survive the round trip.
    return value if type(value) is float else float(value)


def _write_enum(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _write_float(value: Any) -> float:
    return value if type(value) is float else float(value)


def _write_model(value: Any) -> Any:
    return value.to_json_dict() if isinstance(value, BaseModel) else to_jsonable(value)


def _write_model_list(value: Any) -> list[Any]:
    return [item.to_json_dict() if isinstance(item, BaseModel) else to_jsonable(item) for item in value]


# --------------------------------------------------------------------------------------------------
# Field declarations


_WRITER = "toloka_to_json"
_CONVERTER = "toloka_converter"
_LAZY_BUILD = "toloka_lazy_build"  # the eager converter a _LazyModelList descriptor builds with
# How the compiled wire builder (see _compile_wire_builder) tests a value before it calls the field's converter:
# "id" and "float" skip the call for a value of the right type already, ("enum", E) looks a str up inline;
# anything else ("call", the default) calls the converter for every value that is not None.
_FAST = "toloka_fast"


def _plain() -> Any:
    """A field kept as decoded JSON (str, int, bool, dict, list): no conversion."""
    return attrs.field(default=None, metadata={_WRITER: to_jsonable})


def _converted(make_converter: Callable[[str], _Converter], writer: Callable[[Any], Any], **extra: Any) -> Any:
    return attrs.field(default=None, metadata={_WRITER: writer, _CONVERTER: make_converter, **extra})


def _id() -> Any:
    return _converted(_id_converter, _write_id, **{_FAST: "id"})


def _datetime() -> Any:
    return _converted(_datetime_converter, _write_datetime)


def _money() -> Any:
    return _converted(_decimal_converter, _write_decimal)


def _float() -> Any:
    return _converted(_float_converter, _write_float, **{_FAST: "float"})


def _enum(enum_class: type[OpenStrEnum]) -> Any:
    return _converted(_enum_converter(enum_class), _write_enum, **{_FAST: ("enum", enum_class)})


def _nested(model_class: type[BaseModel]) -> Any:
    return _converted(_model_converter(model_class), _write_model)


def _nested_list(model_class: type[BaseModel]) -> Any:
    """A list of nested models, built on first read of the attribute (see :class:`_LazyModelList`)."""
    return _converted(
        _lazy_model_list_converter(model_class),
        _write_model_list,
        **{_LAZY_BUILD: _model_list_converter(model_class), _FAST: "lazy"},
    )


def _bind_converters(cls: type, fields: list[attrs.Attribute]) -> list[attrs.Attribute]:
    """attrs field transformer: give each declared field its converter, named after class and field."""
    return [
        field.evolve(converter=make(f"{cls.__name__}.{field.name}"))
        if (make := field.metadata.get(_CONVERTER)) is not None and field.converter is None
        else field
        for field in fields
    ]


# Compiled builders per class: at most this many key sets ("shapes") each, and this many switches of the
# class's current builder (payloads whose shape changes all the time stay on the shape table's lookup).
_MAX_SHAPES = 32
_MAX_SWITCHES = 64


def _compile_wire_builder(cls: type) -> Callable[[dict[str, Any]], Any] | None:
    """Compile, once per class, ``build(data)``: the model from a decoded JSON object (a plain ``dict``).

    It gives what ``cls(**known, unknown_fields=unknown)`` gives (the attrs ``__init__`` with its converters, the
    reference path, :meth:`BaseModel._from_json_dict_attrs`) at a fraction of the cost. The attrs ``__init__``
    calls every field's converter, also for the None default of each absent field (a Task has 17 fields, the
    server sends 2 or 3); here a value is tested inline and the same converter is called only when the value is
    not None and (for ids, floats and enums) not of the right type already. So every value is converted, and
    every bad value rejected with the same message, by the same converter, in the same field order; an absent
    field is None, which every converter maps to None (checked here once). Lazy nested lists are written
    straight to their slot, as the attrs ``__init__`` does through the descriptor.

    Two levels. The generic builder takes any dict: unknown keys go to ``unknown_fields``, the rest is bound by
    keyword to a compiled ``_fill``. Most payloads of one listing share their key set, so for a dict of known
    keys only, the generic builder also compiles a builder for exactly that key set (its "shape"): it reads
    each present key by subscript, stores None for the rest without a call, and hands any other dict (another
    length, a missing key) back to the generic one. The class's ``_wire_build`` is switched to the shape last
    compiled or met, so the next dict of that shape goes straight to it.

    Returns None (the class keeps the attrs path) for what this does not reproduce: a field whose default is not
    None, an ``unknown_fields`` that is not ``factory=dict``, validators, on-setattr hooks or attrs init hooks.
    """
    if any(hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")):
        return None
    names: frozenset[str] = cls._json_names  # type: ignore[attr-defined]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_type": type}
    # (index, name, conversion lines for the local variable v<index>, store line for v<index>)
    plan: list[tuple[int, str, list[str], str]] = []
    for index, field in enumerate(attrs.fields(cls)):
        name = field.name
        if field.validator is not None or field.on_setattr not in (None, attrs.setters.NO_OP):
            return None
        if name == "unknown_fields":
            default = field.default
            if not (isinstance(default, attrs.Factory) and default.factory is dict and not default.takes_self):  # type: ignore[arg-type]
                return None
            continue
        if field.default is not None or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            return None
        variable = f"v{index}"
        convert = field.converter
        lines: list[str] = []
        if convert is not None:
            if not callable(convert) or convert(None) is not None:
                return None
            namespace[f"_c{index}"] = convert
            kind = field.metadata.get(_FAST, "call")
            if kind == "id" or kind == "float":
                namespace[f"_t{index}"] = str if kind == "id" else float
                lines.append(f"if {variable} is not None and _type({variable}) is not _t{index}:")
                lines.append(f"    {variable} = _c{index}({variable})")
            elif isinstance(kind, tuple) and kind[0] == "enum":
                namespace[f"_t{index}"] = kind[1]
                namespace[f"_l{index}"] = kind[1]._value2member_map_.get
                lines.append(f"if {variable} is not None and _type({variable}) is not _t{index}:")
                # The converter's own dict hit, inlined; anything else (unknown values, bad types) goes through it.
                lines.append(
                    f"    {variable} = (_l{index}({variable}) if _type({variable}) is str else None) or _c{index}({variable})"
                )
            elif kind == "lazy":
                # _lazy_model_list_converter's test, inlined: a list of plain dicts is kept unbuilt.
                namespace["_Unbuilt"] = _Unbuilt
                namespace["_dict"] = dict
                namespace["_list"] = list
                lines += [
                    f"if {variable} is not None:",
                    f"    if _type({variable}) is _list:",
                    f"        for _item in {variable}:",
                    "            if _type(_item) is not _dict:",
                    f"                {variable} = _c{index}({variable})",
                    "                break",
                    "        else:",
                    f"            {variable} = _Unbuilt(({variable},))",
                    "    else:",
                    f"        {variable} = _c{index}({variable})",
                ]
            else:
                lines.append(f"if {variable} is not None:")
                lines.append(f"    {variable} = _c{index}({variable})")
        descriptor = cls.__dict__.get(name)
        if isinstance(descriptor, _LazyModelList):
            namespace[f"_s{index}"] = descriptor.slot.__set__
            store = f"_s{index}(_o, {variable})"
        else:
            store = f"_o.{name} = {variable}"
        plan.append((index, name, lines, store))

    def indent(lines: list[str], depth: int) -> list[str]:
        return [" " * depth + line for line in lines]

    fill_source = [
        f"def _fill(_o, _u, /, *, {', '.join(f'{name}=None' for _, name, _, _ in plan)}):",
        "    _o.unknown_fields = _u",
    ]
    for index, name, lines, store in plan:
        fill_source += [f"    v{index} = {name}", *indent(lines, 4), f"    {store}"]
    fill_source.append("    return _o")
    exec(compile("\n".join(fill_source), f"<wire builder {cls.__qualname__}>", "exec"), namespace)
    fill = namespace["_fill"]
    new = object.__new__
    shapes: dict[frozenset[str], Callable[[dict[str, Any]], Any]] = {}
    switches = 0

    def compile_shape(shape: frozenset[str]) -> Callable[[dict[str, Any]], Any]:
        present = [(index, name, lines, store) for index, name, lines, store in plan if name in shape]
        source = ["def build(data):", f"    if len(data) != {len(present)}:", "        return _generic(data)"]
        if present:
            source.append("    try:")
            source += [f"        v{index} = data[{name!r}]" for index, name, _, _ in present]
            source += ["    except KeyError:", "        return _generic(data)"]
        for _, _, lines, _ in present:
            source += indent(lines, 4)
        source += ["    _o = _new(_cls)", "    _o.unknown_fields = {}"]
        for index, name, _, store in plan:
            source.append(f"    {store}" if name in shape else f"    {store.replace(f'v{index}', 'None')}")
        source.append("    return _o")
        local = dict(namespace, _generic=generic)
        exec(compile("\n".join(source), f"<wire builder {cls.__qualname__} {sorted(shape)}>", "exec"), local)
        built: Callable[[dict[str, Any]], Any] = local["build"]
        built.__qualname__ = f"{cls.__qualname__}._wire_build"
        return built

    def generic(data: dict[str, Any]) -> Any:
        nonlocal switches
        if names.issuperset(data):
            shape = frozenset(data)
            specialised = shapes.get(shape)
            if specialised is None and len(shapes) < _MAX_SHAPES:
                specialised = shapes[shape] = compile_shape(shape)
            if specialised is None:
                return fill(new(cls), {}, **data)
            if switches < _MAX_SWITCHES:
                switches += 1
                cls._wire_build = staticmethod(specialised)  # type: ignore[attr-defined]
            return specialised(data)
        return fill(
            new(cls),
            {key: value for key, value in data.items() if key not in names},
            **{key: value for key, value in data.items() if key in names},
        )

    generic.__qualname__ = f"{cls.__qualname__}._wire_build"
    return generic


@overload
def _model(cls: type[ModelT], /) -> type[ModelT]: ...


@overload
def _model(*, kw_only: bool = True) -> Callable[[type[ModelT]], type[ModelT]]: ...


@dataclass_transform(kw_only_default=True, field_specifiers=(attrs.field,))
def _model(cls: type[ModelT] | None = None, *, kw_only: bool = True) -> Any:
    """Make an attrs model class and precompute what (de)serialisation needs, once per class.

    Marked with ``dataclass_transform`` so that type checkers see each model's fields and keyword
    constructor (``Pool(project_id=..., private_name=...)``), as they do for ``attrs.define``.
    """

    def wrap(cls: type[ModelT]) -> type[ModelT]:
        # on_setattr hooks would make every attribute write in __init__ go through object.__setattr__
        # (about twice as slow to build a model); conversion happens in __init__ only.
        cls = attrs.define(
            kw_only=kw_only, repr=False, on_setattr=attrs.setters.NO_OP, field_transformer=_bind_converters
        )(cls)
        fields = [field for field in attrs.fields(cls) if field.name != "unknown_fields"]
        for field in fields:
            if (make_builder := field.metadata.get(_LAZY_BUILD)) is not None:
                slot = cls.__dict__[field.name]  # the member descriptor of the slot attrs made
                setattr(cls, field.name, _LazyModelList(slot, make_builder(f"{cls.__name__}.{field.name}")))
        cls._json_names = frozenset(field.name for field in fields)
        cls._json_writers = tuple((field.name, field.metadata.get(_WRITER, to_jsonable)) for field in fields)
        build = _compile_wire_builder(cls)
        cls._wire_class = cls if build is not None else None
        if build is not None:
            cls._wire_build = staticmethod(build)
        # Whether from_json_dict is the builder alone (not overridden to rename keys first, as Message does).
        plain = getattr(cls.from_json_dict, "__func__", None) is BaseModel.__dict__["from_json_dict"].__func__
        cls._wire_direct = cls if build is not None and plain else None
        return cls

    return wrap if cls is None else wrap(cls)


# --------------------------------------------------------------------------------------------------
# Base


@attrs.define(kw_only=True, repr=False, on_setattr=attrs.setters.NO_OP)
class BaseModel:
    """Base of all models: JSON (de)serialisation, unknown-field keeping, a compact repr."""

    #: Keys of the JSON object this model does not declare, written back by ``to_json_dict``.
    unknown_fields: dict[str, Any] = attrs.field(factory=dict)

    # Set per class by the model decorator: the declared wire names and (name, writer) pairs.
    _json_names: ClassVar[frozenset[str]] = frozenset()
    _json_writers: ClassVar[tuple[tuple[str, Callable[[Any], Any]], ...]] = ()
    # Set per class by the model decorator: the compiled ``build(dict)`` and the class it builds (None: no builder).
    _wire_build: ClassVar[Callable[[dict[str, Any]], Any]]
    _wire_class: ClassVar[type | None] = None
    # The class itself when its from_json_dict is BaseModel's (nested lists then call the builder directly).
    _wire_direct: ClassVar[type | None] = None

    @classmethod
    def from_json_dict(cls: type[ModelT], data: Mapping[str, Any]) -> ModelT:
        """Build the model from a decoded JSON object; keys it does not declare go to ``unknown_fields``.

        Plain JSON values (``input_values``, configs...) are referenced, not copied: the model owns
        the decoded data from then on. ``TypeError``/``ValueError`` name the model and field of a bad value.
        """
        if type(data) is dict and cls._wire_class is cls:  # the compiled builder (a subclass may add fields)
            return cls._wire_build(data)
        return cls._from_json_dict_attrs(data)

    @classmethod
    def _from_json_dict_attrs(cls: type[ModelT], data: Mapping[str, Any]) -> ModelT:
        """The reference path of ``from_json_dict``: through the attrs ``__init__`` and its converters.

        Taken for other mappings than ``dict``, and for classes without a compiled builder; tests compare the
        compiled builder against it.
        """
        if type(data) is not dict and not isinstance(data, Mapping):
            raise TypeError(
                f"{cls.__name__}.from_json_dict expects a dict (a JSON object), got {type(data).__name__}: {data!r:.200}"
            )
        names = cls._json_names
        if names.issuperset(data):  # the common case: nothing unknown, pass the dict straight through
            return cls(**data)
        known = {key: value for key, value in data.items() if key in names}
        known["unknown_fields"] = {key: value for key, value in data.items() if key not in names}
        return cls(**known)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON-safe wire form: ``None`` fields omitted, unknown fields included."""
        result: dict[str, Any] = {}
        for name, write in self._json_writers:
            value = getattr(self, name)
            if value is not None:
                result[name] = write(value)
        for key, value in self.unknown_fields.items():
            if key not in result:
                result[key] = to_jsonable(value)
        return result

    def __repr__(self) -> str:
        # Only the fields that are set: a Pool has ~30 fields and most are None in a create body.
        parts = [
            f"{name}={value!r}" for name, _ in self._json_writers if (value := getattr(self, name)) is not None
        ]
        if self.unknown_fields:
            parts.append(f"unknown_fields={self.unknown_fields!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


# --------------------------------------------------------------------------------------------------
# Models


@_model
class Owner(BaseModel):
    """The requester who owns an object: ``{id, myself, company_id}``."""

    id: str | None = _id()
    myself: bool | None = _plain()
    company_id: str | None = _id()


@_model
class Project(BaseModel):
    """A project: the task interface (``task_spec``) and the instructions shared by its pools.

    ``task_spec``, ``assignments_issuing_view_config``, ``quality_control``, ``localization_config``
    and ``metadata`` stay plain dicts: the provider passes them through without reasoning about them.
    """

    Status = ProjectStatus

    public_name: str | None = _plain()
    public_description: str | None = _plain()
    public_instructions: str | None = _plain()
    private_comment: str | None = _plain()
    task_spec: dict[str, Any] | None = _plain()
    assignments_issuing_type: AssignmentsIssuingType | None = _enum(AssignmentsIssuingType)
    assignments_issuing_view_config: dict[str, Any] | None = _plain()
    assignments_automerge_enabled: bool | None = _plain()
    max_active_assignments_count: int | None = _plain()
    quality_control: dict[str, Any] | None = _plain()
    localization_config: dict[str, Any] | None = _plain()
    metadata: dict[str, list[str]] | None = _plain()
    # Read-only (set by the server).
    id: str | None = _id()
    status: ProjectStatus | None = _enum(ProjectStatus)
    created: pendulum.DateTime | None = _datetime()
    owner: Owner | None = _nested(Owner)


@_model
class Pool(BaseModel):
    """A pool: where tasks are issued to performers, with its price, filters and quality rules.

    Nested configurations stay plain dicts in their wire shape, because the provider passes them
    through: ``defaults``, ``mixer_config``, ``filter``, ``quality_control``,
    ``assignments_issuing_config``, ``speed_quality_balance``, ``dynamic_overlap_config``,
    ``dynamic_pricing_config``, ``training_config``, ``metadata``.
    """

    Status = PoolStatus
    CloseReason = PoolCloseReason

    project_id: str | None = _id()
    private_name: str | None = _plain()
    private_comment: str | None = _plain()
    public_description: str | None = _plain()
    public_instructions: str | None = _plain()
    may_contain_adult_content: bool | None = _plain()
    reward_per_assignment: Decimal | None = _money()
    assignment_max_duration_seconds: int | None = _plain()
    will_expire: pendulum.DateTime | None = _datetime()
    defaults: dict[str, Any] | None = _plain()
    auto_close_after_complete_delay_seconds: int | None = _plain()
    auto_accept_solutions: bool | None = _plain()
    auto_accept_period_day: int | None = _plain()
    assignments_issuing_config: dict[str, Any] | None = _plain()
    priority: int | None = _plain()
    filter: dict[str, Any] | None = _plain()
    quality_control: dict[str, Any] | None = _plain()
    speed_quality_balance: dict[str, Any] | None = _plain()
    dynamic_overlap_config: dict[str, Any] | None = _plain()
    dynamic_pricing_config: dict[str, Any] | None = _plain()
    mixer_config: dict[str, Any] | None = _plain()
    training_config: dict[str, Any] | None = _plain()
    metadata: dict[str, list[str]] | None = _plain()
    owner: Owner | None = _nested(Owner)
    # Read-only (set by the server).
    id: str | None = _id()
    status: PoolStatus | None = _enum(PoolStatus)
    last_close_reason: PoolCloseReason | None = _enum(PoolCloseReason)
    created: pendulum.DateTime | None = _datetime()
    last_started: pendulum.DateTime | None = _datetime()
    last_stopped: pendulum.DateTime | None = _datetime()
    type: str | None = _plain()

    def is_open(self) -> bool:
        return self.status == PoolStatus.OPEN

    def is_closed(self) -> bool:
        return self.status == PoolStatus.CLOSED

    def is_archived(self) -> bool:
        return self.status == PoolStatus.ARCHIVED

    def is_locked(self) -> bool:
        return self.status == PoolStatus.LOCKED


@_model
class Training(BaseModel):
    """A training pool. Status and close reasons are the pool's. ``metadata`` stays a plain dict."""

    Status = PoolStatus
    CloseReason = PoolCloseReason

    project_id: str | None = _id()
    private_name: str | None = _plain()
    private_comment: str | None = _plain()
    may_contain_adult_content: bool | None = _plain()
    assignment_max_duration_seconds: int | None = _plain()
    mix_tasks_in_creation_order: bool | None = _plain()
    shuffle_tasks_in_task_suite: bool | None = _plain()
    training_tasks_in_task_suite_count: int | None = _plain()
    task_suites_required_to_pass: int | None = _plain()
    retry_training_after_days: int | None = _plain()
    inherited_instructions: bool | None = _plain()
    public_instructions: str | None = _plain()
    metadata: dict[str, list[str]] | None = _plain()
    owner: Owner | None = _nested(Owner)
    # Read-only (set by the server).
    id: str | None = _id()
    status: PoolStatus | None = _enum(PoolStatus)
    last_close_reason: PoolCloseReason | None = _enum(PoolCloseReason)
    created: pendulum.DateTime | None = _datetime()
    last_started: pendulum.DateTime | None = _datetime()
    last_stopped: pendulum.DateTime | None = _datetime()

    def is_open(self) -> bool:
        return self.status == PoolStatus.OPEN

    def is_closed(self) -> bool:
        return self.status == PoolStatus.CLOSED

    def is_archived(self) -> bool:
        return self.status == PoolStatus.ARCHIVED

    def is_locked(self) -> bool:
        return self.status == PoolStatus.LOCKED


@_model
class Task(BaseModel):
    """A task (also the shape of the tasks inside a task suite and an assignment).

    ``input_values``, ``known_solutions`` (``[{output_values, correctness_weight}]``),
    ``baseline_solutions`` and ``localization_config`` stay plain JSON: they follow the project's spec.
    """

    pool_id: str | None = _id()
    input_values: dict[str, Any] | None = _plain()
    known_solutions: list[dict[str, Any]] | None = _plain()
    message_on_unknown_solution: str | None = _plain()
    baseline_solutions: list[dict[str, Any]] | None = _plain()
    overlap: int | None = _plain()
    infinite_overlap: bool | None = _plain()
    reserved_for: list[str] | None = _plain()
    unavailable_for: list[str] | None = _plain()
    traits_all_of: list[str] | None = _plain()
    traits_any_of: list[str] | None = _plain()
    traits_none_of_any: list[str] | None = _plain()
    localization_config: dict[str, Any] | None = _plain()
    # Read-only (set by the server).
    id: str | None = _id()
    created: pendulum.DateTime | None = _datetime()
    origin_task_id: str | None = _id()
    remaining_overlap: int | None = _plain()


@_model
class TaskSuite(BaseModel):
    """A task suite: several tasks issued together as one assignment. ``tasks`` are :class:`Task`."""

    pool_id: str | None = _id()
    tasks: list[Task] | None = _nested_list(Task)
    overlap: int | None = _plain()
    infinite_overlap: bool | None = _plain()
    reserved_for: list[str] | None = _plain()
    unavailable_for: list[str] | None = _plain()
    issuing_order_override: float | None = _float()
    mixed: bool | None = _plain()
    traits_all_of: list[str] | None = _plain()
    traits_any_of: list[str] | None = _plain()
    traits_none_of_any: list[str] | None = _plain()
    longitude: float | None = _float()
    latitude: float | None = _float()
    # Read-only (set by the server).
    id: str | None = _id()
    remaining_overlap: int | None = _plain()
    automerged: bool | None = _plain()
    created: pendulum.DateTime | None = _datetime()


@_model(kw_only=False)
class Solution(BaseModel):
    """A performer's answer to one task of an assignment: ``Solution({"label": "cat"})``."""

    output_values: dict[str, Any] | None = _plain()


@_model
class Assignment(BaseModel):
    """A task suite as one performer took it: their ``solutions``, in the order of ``tasks``."""

    Status = AssignmentStatus

    id: str | None = _id()
    task_suite_id: str | None = _id()
    pool_id: str | None = _id()
    user_id: str | None = _id()
    status: AssignmentStatus | None = _enum(AssignmentStatus)
    reward: Decimal | None = _money()
    bonus_ids: list[str] | None = _plain()
    tasks: list[Task] | None = _nested_list(Task)
    solutions: list[Solution] | None = _nested_list(Solution)
    first_declined_solution_attempt: list[Solution] | None = _nested_list(Solution)
    mixed: bool | None = _plain()
    automerged: bool | None = _plain()
    created: pendulum.DateTime | None = _datetime()
    submitted: pendulum.DateTime | None = _datetime()
    accepted: pendulum.DateTime | None = _datetime()
    rejected: pendulum.DateTime | None = _datetime()
    skipped: pendulum.DateTime | None = _datetime()
    expired: pendulum.DateTime | None = _datetime()
    owner: Owner | None = _nested(Owner)
    public_comment: str | None = _plain()


@_model
class Attachment(BaseModel):
    """A file a performer attached to an assignment. ``details`` (``{user_id, assignment_id, pool_id}``) is a dict."""

    id: str | None = _id()
    name: str | None = _plain()
    attachment_type: str | None = _plain()
    details: dict[str, Any] | None = _plain()
    created: pendulum.DateTime | None = _datetime()
    media_type: str | None = _plain()
    owner: Owner | None = _nested(Owner)


@_model
class Operation(BaseModel):
    """An asynchronous operation (pool open/close, batch creates, aggregation, analytics...).

    ``parameters`` and ``details`` stay plain dicts; their keys depend on ``type``
    (e.g. ``details["pool_id"]`` of a ``POOL.CLONE``, ``details["value"]`` of ``ANALYTICS``).
    """

    Status = OperationStatus
    Type = OperationType

    id: str | None = _id()
    type: OperationType | None = _enum(OperationType)
    status: OperationStatus | None = _enum(OperationStatus)
    submitted: pendulum.DateTime | None = _datetime()
    started: pendulum.DateTime | None = _datetime()
    finished: pendulum.DateTime | None = _datetime()
    progress: int | None = _plain()
    parameters: dict[str, Any] | None = _plain()
    details: dict[str, Any] | None = _plain()

    def is_completed(self) -> bool:
        """True once the operation has finished, successfully (SUCCESS) or not (FAIL)."""
        return self.status in (OperationStatus.SUCCESS, OperationStatus.FAIL)

    def raise_on_fail(self) -> Operation:
        """Raise :class:`~toloka_provider.client.errors.FailedOperationError` if the operation failed."""
        if self.status == OperationStatus.FAIL:
            raise FailedOperationError(self)
        return self


@_model
class OperationLogItem(BaseModel):
    """One entry of ``GET /operations/{id}/log``: ``{type, success, input, output}`` (plain dicts)."""

    type: str | None = _plain()
    success: bool | None = _plain()
    input: dict[str, Any] | None = _plain()
    output: dict[str, Any] | None = _plain()


@_model
class Requester(BaseModel):
    """The account behind the token. ``public_name`` (``{LANG: str}``) and ``company`` are dicts."""

    id: str | None = _id()
    balance: Decimal | None = _money()
    public_name: dict[str, str] | None = _plain()
    company: dict[str, Any] | None = _plain()


@_model
class UserBonus(BaseModel):
    """A bonus paid to a performer. ``public_title``/``public_message`` are ``{LANG: str}`` dicts."""

    user_id: str | None = _id()
    amount: Decimal | None = _money()
    private_comment: str | None = _plain()
    public_title: dict[str, str] | None = _plain()
    public_message: dict[str, str] | None = _plain()
    without_message: bool | None = _plain()
    assignment_id: str | None = _id()
    # Read-only (set by the server).
    id: str | None = _id()
    created: pendulum.DateTime | None = _datetime()


@_model
class AggregatedSolution(BaseModel):
    """The aggregated answer for one task, with the aggregation's confidence (0..1)."""

    pool_id: str | None = _id()
    task_id: str | None = _id()
    confidence: float | None = _float()
    output_values: dict[str, Any] | None = _plain()


def _items_of(item_class: type[BaseModel] | None, items: Any) -> Any:
    if item_class is None or items is None:
        return items
    from_json = item_class.from_json_dict
    if isinstance(items, Mapping):
        return {key: from_json(value) if isinstance(value, Mapping) else value for key, value in items.items()}
    return [from_json(item) if isinstance(item, Mapping) else item for item in items]


@_model
class SearchResult(BaseModel):
    """One page of a list request: ``items`` and whether more pages follow.

    The items are whatever the caller put there; ``from_json_dict(data, item_class=Pool)`` parses
    them as that model, without ``item_class`` they stay dicts. The Apps API's envelope key
    ``content`` is read as ``items``.
    """

    items: list[Any] = attrs.field(factory=list, metadata={_WRITER: to_jsonable})
    has_more: bool = attrs.field(default=False, metadata={_WRITER: to_jsonable})

    @classmethod
    def from_json_dict(
        cls, data: Mapping[str, Any], item_class: type[BaseModel] | None = None
    ) -> SearchResult:
        if isinstance(data, Mapping) and "items" not in data and "content" in data:
            data = {("items" if key == "content" else key): value for key, value in data.items()}
        result = super().from_json_dict(data)
        result.items = _items_of(item_class, result.items) if result.items is not None else []
        result.has_more = bool(result.has_more)
        return result


@_model
class BatchCreateResult(BaseModel):
    """The result of a bulk create: created objects and validation errors, both keyed by the
    0-based position in the request as a string (``{"0": Task, "2": Task}``, ``{"1": {field: error}}``).

    ``from_json_dict(data, item_class=Task)`` parses the items as that model; without it they stay
    dicts. ``validation_errors`` stays plain: ``{position: {field path: {code, message, params}}}``.
    """

    items: dict[str, Any] = attrs.field(factory=dict, metadata={_WRITER: to_jsonable})
    validation_errors: dict[str, dict[str, Any]] = attrs.field(factory=dict, metadata={_WRITER: to_jsonable})

    @classmethod
    def from_json_dict(
        cls, data: Mapping[str, Any], item_class: type[BaseModel] | None = None
    ) -> BatchCreateResult:
        result = super().from_json_dict(data)
        result.items = _items_of(item_class, result.items) if result.items is not None else {}
        if result.validation_errors is None:
            result.validation_errors = {}
        return result


# Apps API (/api/app/v0) -----------------------------------------------------------------------------


@_model
class App(BaseModel):
    """A ready-made solution (an App). Its specs and examples stay plain JSON."""

    id: str | None = _id()
    name: str | None = _plain()
    image: str | None = _plain()
    description: str | None = _plain()
    default_item_price: Decimal | None = _money()
    examples: Any = _plain()
    constraints_description: str | None = _plain()
    param_spec: dict[str, Any] | None = _plain()
    input_spec: dict[str, Any] | None = _plain()
    output_spec: dict[str, Any] | None = _plain()
    input_format_info: dict[str, Any] | None = _plain()


@_model
class AppProject(BaseModel):
    """A project made from an App. ``parameters``, ``errors`` and ``app`` (``{id, name}``) stay plain."""

    Status = AppProjectStatus

    app_id: str | None = _id()
    parent_app_project_id: str | None = _id()
    name: str | None = _plain()
    parameters: dict[str, Any] | None = _plain()
    # Read-only (set by the server).
    id: str | None = _id()
    status: AppProjectStatus | None = _enum(AppProjectStatus)
    created: pendulum.DateTime | None = _datetime()
    item_price: Decimal | None = _money()
    errors: list[dict[str, Any]] | None = _plain()
    read_only: bool | None = _plain()
    app: dict[str, Any] | None = _plain()


@_model
class AppBatch(BaseModel):
    """A batch of App items. ``last_items_import`` and ``items_per_state`` stay plain dicts."""

    Status = AppBatchStatus

    id: str | None = _id()
    app_project_id: str | None = _id()
    name: str | None = _plain()
    status: AppBatchStatus | None = _enum(AppBatchStatus)
    items_count: int | None = _plain()
    item_price: Decimal | None = _money()
    cost: Decimal | None = _money()
    cost_of_processed: Decimal | None = _money()
    created_at: pendulum.DateTime | None = _datetime()
    started_at: pendulum.DateTime | None = _datetime()
    finished_at: pendulum.DateTime | None = _datetime()
    read_only: bool | None = _plain()
    priority_order: str | None = _plain()
    last_items_import: dict[str, Any] | None = _plain()
    confidence_avg: float | None = _float()
    items_processed_count: int | None = _plain()
    eta: pendulum.DateTime | None = _datetime()
    etd: pendulum.DateTime | None = _datetime()
    app_project_eta: pendulum.DateTime | None = _datetime()
    items_per_state: dict[str, int] | None = _plain()
    current_time: pendulum.DateTime | None = _datetime()


@_model
class AppItem(BaseModel):
    """One unit of work in an App batch. ``input_data``, ``output_data`` and ``errors`` stay plain JSON."""

    Status = AppItemStatus

    id: str | None = _id()
    app_project_id: str | None = _id()
    batch_id: str | None = _id()
    status: AppItemStatus | None = _enum(AppItemStatus)
    input_data: dict[str, Any] | None = _plain()
    output_data: dict[str, Any] | None = _plain()
    errors: Any = _plain()
    created_at: pendulum.DateTime | None = _datetime()
    started_at: pendulum.DateTime | None = _datetime()
    finished_at: pendulum.DateTime | None = _datetime()


# Quality control, messaging, webhooks, users (issue 14) -------------------------------------------------


class UserRestrictionScope(OpenStrEnum):
    SYSTEM = "SYSTEM"
    ALL_PROJECTS = "ALL_PROJECTS"
    PROJECT = "PROJECT"
    POOL = "POOL"


class WebhookEventType(OpenStrEnum):
    POOL_CLOSED = "POOL_CLOSED"
    DYNAMIC_OVERLAP_COMPLETED = "DYNAMIC_OVERLAP_COMPLETED"
    ASSIGNMENT_CREATED = "ASSIGNMENT_CREATED"
    ASSIGNMENT_SUBMITTED = "ASSIGNMENT_SUBMITTED"
    ASSIGNMENT_SKIPPED = "ASSIGNMENT_SKIPPED"
    ASSIGNMENT_EXPIRED = "ASSIGNMENT_EXPIRED"
    ASSIGNMENT_APPROVED = "ASSIGNMENT_APPROVED"
    ASSIGNMENT_REJECTED = "ASSIGNMENT_REJECTED"
    TEST_EVENT = "TEST_EVENT"


class Folder(OpenStrEnum):
    """Message thread folders (``folder`` / ``folder_ne`` filters, add/remove-to-folders)."""

    INBOX = "INBOX"
    OUTBOX = "OUTBOX"
    AUTOMATIC_NOTIFICATION = "AUTOMATIC_NOTIFICATION"
    IMPORTANT = "IMPORTANT"
    UNREAD = "UNREAD"


class RecipientsSelectType(OpenStrEnum):
    DIRECT = "DIRECT"
    FILTER = "FILTER"
    ALL = "ALL"


class InterlocutorRole(OpenStrEnum):
    USER = "USER"
    REQUESTER = "REQUESTER"
    ADMINISTRATOR = "ADMINISTRATOR"
    SYSTEM = "SYSTEM"


@_model
class Skill(BaseModel):
    """A skill: a 0..100 value per performer, set by quality-control rules or by ``set_user_skill``.

    ``public_name`` and ``public_requester_description`` are ``{LANG: str}`` dicts. The API's ``global`` flag
    (a Python keyword) is kept in ``unknown_fields``.
    """

    name: str | None = _plain()
    private_comment: str | None = _plain()
    hidden: bool | None = _plain()
    skill_ttl_hours: int | None = _plain()
    training: bool | None = _plain()
    public_name: dict[str, str] | None = _plain()
    public_requester_description: dict[str, str] | None = _plain()
    owner: Owner | None = _nested(Owner)
    deprecated: bool | None = _plain()
    # Read-only (set by the server).
    id: str | None = _id()
    created: pendulum.DateTime | None = _datetime()


@_model
class UserSkill(BaseModel):
    """One performer's value of one skill: ``value`` rounded to an int, ``exact_value`` as given (Decimal)."""

    id: str | None = _id()
    skill_id: str | None = _id()
    user_id: str | None = _id()
    value: int | None = _plain()
    exact_value: Decimal | None = _money()
    created: pendulum.DateTime | None = _datetime()
    modified: pendulum.DateTime | None = _datetime()


@_model
class UserRestriction(BaseModel):
    """A ban of one performer, in one of four scopes; ``will_expire`` None means until lifted.

    ``UserRestriction.from_json_dict`` returns the subclass of the ``scope``: :class:`SystemUserRestriction`,
    :class:`AllProjectsUserRestriction`, :class:`ProjectUserRestriction` (``project_id``) or
    :class:`PoolUserRestriction` (``pool_id``); a scope this client does not know stays a ``UserRestriction``
    with its other keys in ``unknown_fields``. The subclasses fill ``scope`` themselves.
    """

    Scope = UserRestrictionScope

    scope: UserRestrictionScope | None = _enum(UserRestrictionScope)
    user_id: str | None = _id()
    private_comment: str | None = _plain()
    will_expire: pendulum.DateTime | None = _datetime()
    # Read-only (set by the server).
    id: str | None = _id()
    created: pendulum.DateTime | None = _datetime()

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> UserRestriction:
        if cls is UserRestriction and isinstance(data, Mapping):
            scope = data.get("scope")
            subclass = _RESTRICTION_BY_SCOPE.get(scope.value if isinstance(scope, Enum) else scope)  # type: ignore[arg-type]
            if subclass is not None:
                return subclass.from_json_dict(data)
        return super().from_json_dict(data)


def _scope_field(scope: UserRestrictionScope) -> Any:
    return attrs.field(
        default=scope,
        metadata={_WRITER: _write_enum, _CONVERTER: _enum_converter(UserRestrictionScope)},
    )


@_model
class SystemUserRestriction(UserRestriction):
    """Banned from all of Toloka (a system-wide restriction)."""

    scope: UserRestrictionScope | None = _scope_field(UserRestrictionScope.SYSTEM)


@_model
class AllProjectsUserRestriction(UserRestriction):
    """Banned from all of this requester's projects."""

    scope: UserRestrictionScope | None = _scope_field(UserRestrictionScope.ALL_PROJECTS)


@_model
class ProjectUserRestriction(UserRestriction):
    """Banned from one project (``project_id``)."""

    scope: UserRestrictionScope | None = _scope_field(UserRestrictionScope.PROJECT)
    project_id: str | None = _id()


@_model
class PoolUserRestriction(UserRestriction):
    """Banned from one pool (``pool_id``)."""

    scope: UserRestrictionScope | None = _scope_field(UserRestrictionScope.POOL)
    pool_id: str | None = _id()


_RESTRICTION_BY_SCOPE: dict[str, type[UserRestriction]] = {
    "SYSTEM": SystemUserRestriction,
    "ALL_PROJECTS": AllProjectsUserRestriction,
    "PROJECT": ProjectUserRestriction,
    "POOL": PoolUserRestriction,
}


@_model
class Interlocutor(BaseModel):
    """A participant of a message thread."""

    id: str | None = _id()
    role: InterlocutorRole | None = _enum(InterlocutorRole)
    myself: bool | None = _plain()


@_model
class Message(BaseModel):
    """One message of a thread. The wire key ``from`` (a Python keyword) is the attribute ``from_``."""

    text: dict[str, str] | None = _plain()
    from_: Interlocutor | None = _nested(Interlocutor)
    created: pendulum.DateTime | None = _datetime()

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Message:
        if isinstance(data, Mapping) and "from" in data:
            data = {("from_" if key == "from" else key): value for key, value in data.items()}
        return super().from_json_dict(data)

    def to_json_dict(self) -> dict[str, Any]:
        return {("from" if key == "from_" else key): value for key, value in super().to_json_dict().items()}


@_model
class MessageThread(BaseModel):
    """A message thread with performers. ``topic`` is ``{LANG: str}``; ``meta`` (``{pool_id, project_id,
    assignment_id}``) and ``compose_details`` (``{recipients_select_type, recipients_ids, recipients_filter}``)
    stay plain dicts; ``folders`` are :class:`Folder` values."""

    id: str | None = _id()
    topic: dict[str, str] | None = _plain()
    interlocutors_inlined: bool | None = _plain()
    interlocutors: list[Interlocutor] | None = _nested_list(Interlocutor)
    messages_inlined: bool | None = _plain()
    messages: list[Message] | None = _nested_list(Message)
    meta: dict[str, Any] | None = _plain()
    answerable: bool | None = _plain()
    folders: list[str] | None = _plain()
    compose_details: dict[str, Any] | None = _plain()
    created: pendulum.DateTime | None = _datetime()


@_model
class WebhookSubscription(BaseModel):
    """Toloka POSTs ``{"events": [...]}`` of ``event_type`` in ``pool_id`` to ``webhook_url``; with a
    ``secret_key`` each notification is signed (header ``Toloka-Signature``)."""

    EventType = WebhookEventType

    webhook_url: str | None = _plain()
    event_type: WebhookEventType | None = _enum(WebhookEventType)
    pool_id: str | None = _id()
    secret_key: str | None = _plain()
    # Read-only (set by the server).
    id: str | None = _id()
    created: pendulum.DateTime | None = _datetime()


@_model
class WebhookTestResult(BaseModel):
    """The answer of ``POST /webhook-subscriptions/{id}/test``; the attributes keep the wire's camelCase keys."""

    success: bool | None = _plain()
    responseReceivedAt: pendulum.DateTime | None = _datetime()
    errorType: str | None = _plain()
    originalStatusCode: int | None = _plain()
    uuids: list[str] | None = _plain()


@_model
class User(BaseModel):
    """A performer's metadata (``GET /user-metadata/{id}``). ``attributes`` (country by phone/IP, client type,
    device, OS...) stays a plain dict."""

    id: str | None = _id()
    country: str | None = _plain()
    languages: list[str] | None = _plain()
    adult_allowed: bool | None = _plain()
    attributes: dict[str, Any] | None = _plain()


class CloneResults(NamedTuple):
    """What ``clone_project`` made: the new project, its pools and its trainings (unpacks as a 3-tuple)."""

    project: Project
    pools: list[Pool]
    trainings: list[Training]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "project": self.project.to_json_dict(),
            "pools": [pool.to_json_dict() for pool in self.pools],
            "trainings": [training.to_json_dict() for training in self.trainings],
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> CloneResults:
        return cls(
            Project.from_json_dict(data["project"]),
            [Pool.from_json_dict(pool) for pool in data.get("pools") or ()],
            [Training.from_json_dict(training) for training in data.get("trainings") or ()],
        )
