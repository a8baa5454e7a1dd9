"""One rule that keeps credentials out of everything gauntlet or Hydra writes.

A value is a secret when

- it is stored under a key that names a credential: ``password``, ``passwd``, ``secret``,
  ``token``, ``api_key``/``apikey``, ``access_key``, ``credential``, ``private_key``, and the
  same words with a prefix or suffix (``wandb_api_key``, ``db_password``, ``GITHUB_TOKEN``,
  ``token_2``, ``apiKey``). Token *settings* of a tokenizer (``max_tokens``, ``tokenizer``,
  ``pad_token``) are not credentials;
- it is the password of a URL (``postgresql+psycopg://bob:pw@host/db``);
- it is the value of such a key inside a string: an override ``+api_key=abc``, a command-line
  argument, a ``password=`` in a connection string.

:func:`scrub_secrets` applies the rule to a JSON-like tree, :func:`redact_text` to one string.
The run record applies it to the manifest, the leaderboard row, the Hydra files, the
checkpoints' config and the wandb run.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# the words that make a key a credential; compound ones are matched with or without "_"
_WORDS = ("password", "passwd", "secret", "token", "credential", "credentials")
_COMPOUNDS = ("api_key", "apikey", "access_key", "accesskey", "private_key", "privatekey")
# tokenizer settings that end in "token" but hold no credential
_TOKENIZER_TOKENS = ("pad", "unk", "bos", "eos", "cls", "sep", "mask", "start", "end", "special")

# scheme://user:password@ — the password runs to the last "@" before the path starts.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<secret>[^/\s]*)@")
# KEY=VALUE or "KEY: VALUE" inside a string (an override, an argument, a connection string)
_KEY_VALUE = re.compile(
    r"(?P<key>[A-Za-z_+~][\w.\-]*)(?P<sep>\s*=\s*|:\s+)(?P<value>'[^']*'|\"[^\"]*\"|[^\s&;,'\"]+)"
)


def _parts(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)  # apiKey -> api_Key
    return [p for p in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if p]


def is_secret_key(key: str) -> bool:
    """Whether a config key (or the last part of a dotted one) names a credential."""
    parts = _parts(str(key).rsplit(".", 1)[-1].lstrip("+~"))
    if not parts:
        return False
    joined = "_".join(parts)
    if any(c in joined or c.replace("_", "") in parts for c in _COMPOUNDS):
        return True
    for i, part in enumerate(parts):
        if part == "token" or (part.endswith("token") and part != "token"):
            before = parts[i - 1] if i else part[: -len("token")]
            if before in _TOKENIZER_TOKENS:
                continue
            return True
        if part in _WORDS or any(part.endswith(w) for w in _WORDS if w != "token"):
            return True
    return False


def redact_text(text: str) -> str:
    """``text`` with every URL password and every ``SECRET_KEY=value`` value masked."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)

    def mask(m: re.Match[str]) -> str:
        if not is_secret_key(m["key"]) or m["value"] == MASK:
            return m[0]
        return f"{m['key']}{m['sep']}{MASK}"

    return _KEY_VALUE.sub(mask, text)


def redact_url(url: str) -> str:
    """The URL with its password, if any, replaced: ``postgresql+psycopg://bob:***@host/db``."""
    return redact_text(url)


def scrub_secrets(value: Any) -> Any:
    """A copy of a JSON-like tree with credentials masked: strings lose URL passwords and
    ``key=value`` secrets; any non-empty value under a credential key becomes ``***``."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: MASK
            if isinstance(key, str) and is_secret_key(key) and _has_value(item)
            else scrub_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub_secrets(item) for item in value]
    return value


def _has_value(item: Any) -> bool:
    return item is not None and item != "" and not isinstance(item, (dict, list, bool))
