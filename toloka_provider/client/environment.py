"""Where the client talks to and how it introduces itself: environments, base URL, request headers.

Everything here is pure: the transports call these functions once, at construction time.
"""

from __future__ import annotations

import enum

from toloka_provider import __version__

USER_AGENT = f"toloka-airflow-provider/{__version__}"


class Environment(enum.Enum):
    """The two public Toloka installations; the value is the base URL."""

    PRODUCTION = "https://toloka.dev"
    SANDBOX = "https://sandbox.toloka.dev"


def resolve_base_url(environment: Environment | str | None, url: str | None) -> str:
    """Return the base URL (no trailing slash) from exactly one of ``environment`` and ``url``."""
    if (environment is None) == (url is None):
        raise ValueError(
            "Pass exactly one of environment (PRODUCTION or SANDBOX) and url; "
            f"got environment={environment!r} and url={url!r}"
        )
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
        return url[:-1] if url.endswith("/") else url
    if isinstance(environment, Environment):
        return environment.value
    if isinstance(environment, str):
        try:
            return Environment[environment.strip().upper()].value
        except KeyError:
            pass
    raise ValueError(f"environment must be 'PRODUCTION' or 'SANDBOX' (any case) or an Environment, got {environment!r}")


def authorization_header(token: str) -> str:
    """Build the ``Authorization`` value by Toloka's token-shape rule.

    An API key has exactly two dots, the first at index 22..24; it is sent as ``ApiKey``. Anything else is a
    legacy OAuth token. A value that already carries one of the two schemes is sent as it is.
    """
    if not isinstance(token, str) or not token.strip():
        raise ValueError("token must be a non-empty string")
    token = token.strip()
    scheme, _, rest = token.partition(" ")
    if rest:
        if scheme in ("ApiKey", "OAuth"):
            return token
        # Never echo the token itself: name only the scheme the caller used.
        raise ValueError(f"token has an unknown authorization scheme {scheme[:10]!r}; expected 'ApiKey' or 'OAuth'")
    first_dot = token.find(".")
    if token.count(".") == 2 and 21 < first_dot < 25:
        return f"ApiKey {token}"
    return f"OAuth {token}"


def base_headers(token: str, act_under_account_id: str | None) -> dict[str, str]:
    """Headers sent with every request (``Content-Type`` is added by the transport only with a body)."""
    headers = {
        "Authorization": authorization_header(token),
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
    }
    if act_under_account_id:
        headers["X-Act-Under-Account-ID"] = str(act_under_account_id)
    return headers
