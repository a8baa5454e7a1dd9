"""One rule that keeps credentials out of everything gauntlet, Hydra or a library writes.

A value is a secret when

- it is stored under a key that names a credential: ``password``, ``passwd``, ``pwd``,
  ``passphrase``, ``secret``, ``token``, ``api_key``/``apikey``, ``access_key``, ``credential``,
  ``private_key``, ``authorization``, ``cookie``, and the same words with a prefix or suffix
  (``wandb_api_key``, ``db_password``, ``GITHUB_TOKEN``, ``token_2``, ``apiKey``). Token
  *settings* of a tokenizer (``max_tokens``, ``tokenizer``, ``pad_token``) are not credentials.
  The whole value is masked, whatever its type: a string, a number, a list, a mapping;
- it is a URL's password (``postgresql+psycopg://bob:pw@host/db``), or the user part of a web
  URL, which only ever carries a token there (``https://TOKEN@github.com/...``);
- it follows ``Bearer`` or ``Basic`` (an ``Authorization`` header);
- it is the value of a credential key inside a string, in any of the forms text carries one:
  ``key=value`` (an override, a connection string ``host=db password=...``, a URL query),
  ``key: value``, ``"key": "value"`` (JSON or YAML in a string), ``--key value`` and
  ``--key=value`` (a command line). The value runs to the end of its quotes or brackets
  (``+password=[a,b]``, ``{x: 1, y: 2}``), else to the next blank, ``&`` or ``;``;
- it follows ``--key`` in a command line held as a list (``["--password", "pw"]``).

:func:`scrub_secrets` applies the rule to a JSON-like tree, :func:`redact_text` to one string.
The run record applies it to every file and row it writes; :func:`redact_log_records` and
:func:`guard_console` apply it to every log record and every line a command prints, which also
covers what Hydra and the libraries log or print (Hydra's ``#0 : OVERRIDES`` job lines).
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

MASK = "***"

# the words that make a key a credential; compound ones are matched with or without "_"
_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "credentials",
    "authorization",
    "cookie",
)
# "tokens" counts tokens; "passwords", "secrets" hold credentials
_PLURALS = tuple(w for w in _WORDS if w != "token")
_EXACT = ("pwd", "auth")  # only as a whole part: "db_pwd", "basic_auth", not "author"
_COMPOUNDS = ("api_key", "apikey", "access_key", "accesskey", "private_key", "privatekey")
# tokenizer settings that end in "token" but hold no credential
_TOKENIZER_TOKENS = ("pad", "unk", "bos", "eos", "cls", "sep", "mask", "start", "end", "special")

# scheme://USER:PASSWORD@ : the password runs to the last "@" before the path starts
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*:)(?P<secret>[^/\s'\"]*)@"
)
# http(s)://TOKEN@ : web URLs carry a user part only to authenticate (a token, a key)
_URL_TOKEN = re.compile(r"(?i)(?P<head>\b(?:https?|ftps?)://)(?P<user>[^:/@\s'\"]+)@")
_AUTH_SCHEME = re.compile(r"(?i)\b(?P<scheme>bearer|basic)\s+(?P<secret>[^\s'\",;]+)")
# a key, perhaps a flag (--key) or quoted ("key"), then its separator
_KEY = re.compile(
    r"(?P<dash>--?)?(?P<key>[A-Za-z_+~][\w.\-]*)(?P<quote>\\*[\"']|''|\"\")?(?P<sep>\s*[=:]\s*|\s+)"
)
_CLOSING = {"[": "]", "{": "}", "(": ")"}
_VALUE_END = set(" \t\r\n&;'\"")


def _parts(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)  # apiKey -> api_Key
    return [p for p in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if p]


def is_secret_key(key: Any) -> bool:
    """Whether a config key (or the last part of a dotted one) names a credential."""
    if not isinstance(key, str):
        return False
    parts = _parts(key.rsplit(".", 1)[-1].lstrip("+~-"))
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
        if part in _EXACT or part in _WORDS or part.removesuffix("s") in _PLURALS:
            return True
        if any(part.endswith(w) for w in _WORDS if w != "token"):
            return True
    return False


def _value_end(text: str, start: int) -> int:
    """Where the value that starts at ``start`` ends: its closing quote or bracket (nested,
    quotes inside skipped), else the next blank, ``&``, ``;`` or quote."""
    if start >= len(text):
        return start
    first = text[start]
    # a quote escaped inside a string (\" in JSON, '' in YAML): the value ends at the same mark
    escaped = re.match(r"\\+[\"']|''|\"\"", text[start:])
    if escaped:
        close = text.find(escaped[0], start + len(escaped[0]))
        return len(text) if close < 0 else close + len(escaped[0])
    if first in "'\"":
        end = start + 1
        while end < len(text) and text[end] != first:
            end += 2 if text[end] == "\\" else 1
        return min(end + 1, len(text))
    if first in _CLOSING:
        stack, end = [], start
        while end < len(text):
            char = text[end]
            if char in "'\"":
                end = _value_end(text, end)
                continue
            if char in _CLOSING:
                stack.append(_CLOSING[char])
            elif stack and char == stack[-1]:
                stack.pop()
                if not stack:
                    return end + 1
            end += 1
        return end
    end = start
    while end < len(text) and text[end] not in _VALUE_END:
        end += 1
    return end


def _mask_key_values(text: str) -> str:
    out, pos = [], 0
    while (m := _KEY.search(text, pos)) is not None:
        flag_form = m["sep"].strip() == ""
        if (
            not is_secret_key(m["key"])
            or (flag_form and not m["dash"])
            or not _mapping_entry(text, m)
        ):
            # go on after the key: its value may itself hold a key=value
            out.append(text[pos : m.end()])
            pos = m.end()
            continue
        if "\n" in m["sep"] and not flag_form:  # a YAML block: the indented lines below
            start = m.start("sep") + m["sep"].index(":") + 1
            end = _block_end(text, m.start("key"), start)
            out.append(text[pos:start] + f" {MASK}")
            pos = end
            continue
        start = m.end()
        end = _value_end(text, start)
        value = text[start:end]
        out.append(text[pos:start])
        if value in ("", MASK) or value.strip("'\"") == MASK:
            out.append(value)
        elif value[:1] in "'\"" and value[-1:] == value[:1] and len(value) > 1:
            out.append(f"{value[0]}{MASK}{value[0]}")
        else:
            out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _mapping_entry(text: str, m: re.Match[str]) -> bool:
    """Whether ``key: value`` is a mapping's entry (YAML, JSON, a flow mapping, a header), not
    a message that names a key (``password: expected a string``): it starts a line or an
    entry, or its key is quoted or names a header."""
    if "=" in m["sep"] or m["sep"].strip() == "" or m["quote"]:
        return True
    if m["key"].lower() in ("authorization", "cookie", "proxy-authorization"):
        return True
    before = text[: m.start()].rstrip(" \t")
    return not before or before[-1] in "\n{[,=-'\""


def _block_end(text: str, key_start: int, start: int) -> int:
    """The end of a YAML value written on the lines below its key: the lines indented deeper
    than the key's line, and list items (``- x``) at its own indentation."""
    line_start = text.rfind("\n", 0, key_start) + 1
    key_line = text[line_start:key_start]
    indent = len(key_line) - len(key_line.lstrip(" "))
    end = text.find("\n", start)
    if end < 0:
        return len(text)
    if text[start:end].strip():  # the value is on the key's line after all
        return end
    while end < len(text):
        nxt = text.find("\n", end + 1)
        line = text[end + 1 : nxt if nxt >= 0 else len(text)]
        depth = len(line) - len(line.lstrip(" "))
        if line.strip() and not (
            depth > indent or (line.lstrip().startswith("- ") and depth == indent)
        ):
            break
        if not line.strip() and nxt < 0:
            break
        end = nxt if nxt >= 0 else len(text)
        if nxt < 0:
            break
    return end


def redact_text(text: str) -> str:
    """``text`` with every secret the module doc describes masked."""
    if not text:
        return text

    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = _URL_TOKEN.sub(lambda m: f"{m['head']}{MASK}@", text)
    text = _AUTH_SCHEME.sub(
        lambda m: m[0] if m["secret"] == MASK else f"{m['scheme']} {MASK}", text
    )
    return _mask_key_values(text)


def redact_url(url: str) -> str:
    """The URL with its password, if any, replaced: ``postgresql+psycopg://bob:***@host/db``."""
    return redact_text(url)


def scrub_secrets(value: Any) -> Any:
    """A copy of a JSON-like tree with credentials masked: strings lose what
    :func:`redact_text` masks; any value under a credential key becomes ``***`` whatever its
    type (``None``, ``""`` and booleans, which hold no secret, are kept); in a list, the item
    after a ``--credential`` flag is masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: MASK if is_secret_key(key) and _has_value(item) else scrub_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        items = [scrub_secrets(item) for item in value]
        for i in range(1, len(items)):
            if _is_secret_flag(value[i - 1]) and _has_value(value[i]):
                items[i] = MASK
        return items
    return value


def _is_secret_flag(item: Any) -> bool:
    return (
        isinstance(item, str) and item.startswith("-") and "=" not in item and is_secret_key(item)
    )


def _has_value(item: Any) -> bool:
    return item is not None and item != "" and not isinstance(item, bool) and item != MASK


def masked_overrides(overrides: list[str]) -> list[str]:
    """Overrides as they are recorded: the form a recorded run and a planned one compare in."""
    return [redact_text(item) for item in overrides]


# -- the console and the logs -----------------------------------------------------------------


def redact_log_records() -> None:
    """Mask secrets in every log record this process creates, whoever logs it (gauntlet,
    Hydra's launchers, a library), before any handler (console or file) sees it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "gauntlet_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it as logging does
            return record
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return record

    factory.gauntlet_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets in what is written, then passes it on."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(redact_text(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextmanager
def guard_console() -> Iterator[None]:
    """For one command: what it prints (to ``sys.stdout``/``sys.stderr``, including Hydra's
    and the libraries' output) and what it logs passes through :func:`redact_text`."""
    redact_log_records()
    _redact_uncaught_errors()
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _redact_uncaught_errors() -> None:
    """A traceback that escapes every handler is printed after the command's streams are
    restored: it goes through the rule too."""
    previous = sys.excepthook
    if getattr(previous, "gauntlet_redacts", False):
        return

    def hook(kind: type[BaseException], err: BaseException, tb: Any) -> None:
        import traceback

        sys.stderr.write(redact_text("".join(traceback.format_exception(kind, err, tb))))

    hook.gauntlet_redacts = True  # type: ignore[attr-defined]
    sys.excepthook = hook
