"""Keep credentials out of everything the leaderboard shows or stores.

A database URL may carry a password (``postgresql+psycopg://bob:pw@host/db``), and a resolved
config may hold one (``leaderboard.url``, an API key). These functions replace such secrets with
``***`` before a value reaches a log line, a table, a file or the database.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# scheme://user:password@ — the password runs to the last "@" before the path starts.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^/\s]*)@")
# password=... in a query string or a libpq keyword/value connection string.
_KEY_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd)\s*=\s*)(?P<secret>'[^']*'|[^\s&;]+)", re.I
)

_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
        "access_token",
        "auth_token",
        "secret_key",
    }
)
_SECRET_SUFFIXES = ("_password", "_passwd", "_secret", "_api_key", "_secret_key")


def redact_text(text: str) -> str:
    """``text`` with every URL password and ``password=`` value replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _KEY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_url(url: str) -> str:
    """The URL with its password, if any, replaced: ``postgresql+psycopg://bob:***@host/db``."""
    return redact_text(url)


def is_secret_key(key: str) -> bool:
    """Whether a config key names a credential (``password``, ``wandb_api_key``, ...)."""
    name = key.lower()
    return name in _SECRET_KEYS or name.endswith(_SECRET_SUFFIXES)


def scrub_secrets(value: Any) -> Any:
    """A copy of a JSON-like tree with credentials masked.

    Strings lose URL passwords; a non-empty string stored under a credential-like key
    (see :func:`is_secret_key`) becomes ``***``.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: MASK
            if isinstance(key, str) and is_secret_key(key) and isinstance(item, str) and item
            else scrub_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub_secrets(item) for item in value]
    return value
