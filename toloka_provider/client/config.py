"""Constructor arguments shared by both clients, checked and normalised once (no I/O).

``timeout`` is read the same way by both transports:

* a number ``t``: connecting may take at most ``t`` seconds, and the whole attempt (connect, send, status
  line, headers and the complete body) at most ``t`` seconds in total (plus ``DEADLINE_GRACE``, a quarter of
  a second). A server that drips bytes or streams without end is cut off at the deadline: the attempt fails
  as a transport error (and is retried like one).
* a pair ``(connect, read)``: connecting may take at most ``connect`` seconds, the wait for any single read
  at most ``read`` seconds, and the whole attempt at most ``connect + read`` seconds.
* ``None`` (or a pair with a None): no timeout and no deadline for that part (not recommended).

Each retry is a new attempt with its own deadline; the waits between attempts are bounded by
``max_retry_after`` (see ``retry``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import attrs

from toloka_provider.client.environment import Environment, base_headers, resolve_base_url
from toloka_provider.client.errors import TolokaArgumentError, TolokaArgumentTypeError, secret_forms
from toloka_provider.client.retry import DEFAULT_MAX_RETRY_AFTER, RetryPolicy, make_policy_factory

#: A token is sent as an HTTP header value: printable ASCII without spaces (an optional "OAuth " or
#: "ApiKey " scheme in front is the one space allowed).
_TOKEN_SCHEMES = ("OAuth ", "ApiKey ")
# Schemes named in the error when a token starts with one; any other first word may be part of the secret.
_OTHER_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "apikey", "oauth"})


def check_token(token: object) -> str:
    """Refuse a token that cannot be sent as a header, without ever showing any of it.

    Whitespace anywhere (a pasted newline, a leading or trailing space), control characters, characters
    outside printable ASCII and the empty string are refused with ``TolokaArgumentError``; the message says
    what is wrong and how long the value is, never what it holds.
    """
    if not isinstance(token, str):
        raise TolokaArgumentTypeError(f"token must be a str, got {type(token).__name__}")
    bare = token
    for scheme in _TOKEN_SCHEMES:
        if token.startswith(scheme):
            bare = token[len(scheme) :]
            break
    if not bare or bare.isspace():
        raise TolokaArgumentError(
            "token must be a non-empty string (got " + ("only whitespace)" if bare else "an empty one)")
        )
    scheme, space, rest = bare.partition(" ")
    if space and rest and scheme.lower() in _OTHER_SCHEMES:
        # "Bearer <t>": name the (well-known) scheme, never the token, as environment.authorization_header does.
        raise TolokaArgumentError(f"token has an unknown authorization scheme {scheme!r}; expected 'ApiKey' or 'OAuth'")
    problems = []
    if any(char.isspace() for char in bare):
        problems.append("whitespace (a space, tab or newline, also at either end)")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in bare if not char.isspace()):
        problems.append("control characters")
    if any(ord(char) > 0x7E for char in bare if not char.isspace()):
        problems.append("characters outside printable ASCII")
    if problems:
        raise TolokaArgumentError(
            f"token contains {' and '.join(problems)}: it cannot be sent as an HTTP header "
            f"(got a value of {len(token)} characters; check the connection's password for a stray character)"
        )
    return token


def normalize_timeout(timeout: object) -> tuple[float | None, float | None]:
    """A float (both phases), a (connect, read) pair, or None (no timeout) -> (connect, read)."""
    if timeout is None:
        return (None, None)
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        pair: tuple = (timeout, timeout)
    elif isinstance(timeout, (tuple, list)) and len(timeout) == 2:
        pair = tuple(timeout)
    else:
        raise TolokaArgumentError(
            f"timeout must be seconds, a (connect, read) pair, or None; got {type(timeout).__name__} {timeout!r}"
        )
    for value in pair:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value)
        ):
            raise TolokaArgumentError(f"timeout values must be positive finite seconds or None; got {timeout!r}")
    return (None if pair[0] is None else float(pair[0]), None if pair[1] is None else float(pair[1]))


#: Seconds past ``deadline`` before an attempt is cut off, so that a per-phase timeout, whose message says
#: which phase (connect, read), fires first when it can; the deadline is there for drip-feeding servers.
DEADLINE_GRACE = 0.25


def attempt_deadline(timeout: object) -> float | None:
    """The total seconds one attempt may take (see the module docstring), or None for no deadline."""
    if timeout is None:
        return None
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout)
    connect, read = normalize_timeout(timeout)
    return None if connect is None or read is None else connect + read


@attrs.frozen
class ClientConfig:
    url: str
    headers: dict[str, str] = attrs.field(repr=False)  # holds the token: never printed
    timeout: tuple[float | None, float | None]
    new_retry_policy: Callable[[], RetryPolicy] = attrs.field(repr=False)
    verify: bool | str
    #: Total seconds per attempt (connect to the last body byte), None for none.
    deadline: float | None = None  # the transports add DEADLINE_GRACE before cutting an attempt off
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    #: The token in the forms a server may echo it; removed from server text before it reaches an error.
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)


def make_config(
    token: str,
    environment: Environment | str | None,
    retries: int | object,
    timeout: object,
    url: str | None,
    retry_quotas: str | Iterable[str] | None,
    retryer_factory: Callable[[], object] | None,
    act_under_account_id: str | None,
    verify: bool | str,
    *,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
) -> ClientConfig:
    token = check_token(token)
    if act_under_account_id is not None:
        account = str(act_under_account_id)
        if not account or any(not 0x20 < ord(char) < 0x7F for char in account):
            raise TolokaArgumentError(
                "act_under_account_id must be an account id of printable ASCII without spaces, "
                f"got {account[:40]!r}"
            )
    try:
        base_url = resolve_base_url(environment, url)
        headers = base_headers(token, act_under_account_id)
    except TolokaArgumentError:
        raise
    except ValueError as exc:  # environment.py's checks (they never show the token)
        raise TolokaArgumentError(str(exc)) from None
    if verify is not True and verify is not False and not isinstance(verify, str):
        raise TolokaArgumentTypeError(
            f"verify must be True, False or a CA bundle path, got {type(verify).__name__}"
        )
    normalized = normalize_timeout(timeout)
    return ClientConfig(
        url=base_url,
        headers=headers,
        timeout=normalized,
        new_retry_policy=make_policy_factory(retries, retry_quotas, retryer_factory, max_retry_after),
        verify=verify,
        deadline=attempt_deadline(timeout),
        max_retry_after=float(max_retry_after),
        secrets=secret_forms(headers["Authorization"]),
    )
