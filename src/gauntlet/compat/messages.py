"""What gauntlet reads from the text of libraries' error messages, where the exception's type
alone does not say which config key is wrong, or whether to retry. Each entry names the library
and version it was read from (measured on torch 2.13.0, pytorch-lightning 2.6.6, hydra-core
1.3.8, omegaconf 2.3.1 and SQLite 3.40.1); when a pin moves, check that the words still appear.

``KEY_WORDS``: a ``ValueError`` or ``MisconfigurationException`` from an optimizer (torch
2.13.0) or the Trainer (pytorch-lightning 2.6.6) names its argument only in words ("Invalid
learning rate", "Precision ... is invalid"); a word found there is the key under the config
group. Test: ``tests/test_bad_values.py``.

``missing_config_path``: Hydra's ``MissingConfigException`` carries the missing file in
``missing_cfg_file`` or, for a group option, only in its message ("Could not find 'GROUP/NAME'",
hydra-core 1.3.8). ``is_unknown_key``: OmegaConf (2.3.1) raises the same ``ConfigKeyError`` for an
unknown key and for other key errors; the unknown one says "not in". Test:
``tests/test_first_hour.py``.

``sqlite_busy``/``unique_violation``: SQLite (3.x, through Python's sqlite3) says that another
writer holds the database, or that a UNIQUE constraint failed, only in its message on Python
3.10 (the error codes reach Python from 3.11). The leaderboard retries on either. Test:
``tests/test_leaderboard_store.py::test_eight_writer_processes_lose_no_row_on_sqlite``.
"""

from __future__ import annotations

import re
from typing import Any

# words in torch's and Lightning's messages -> the key they are about, below the group
KEY_WORDS = {
    "model.optimizer": (  # torch.optim's constructors
        ("learning rate", "lr"),
        ("weight_decay", "weight_decay"),
        ("beta", "betas"),
        ("epsilon", "eps"),
        ("momentum", "momentum"),
        ("dampening", "dampening"),
    ),
    "trainer": (  # pytorch_lightning.Trainer and its connectors
        ("precision", "precision"),
        ("accelerator", "accelerator"),
        ("gpu", "accelerator"),
        ("cuda", "accelerator"),
        ("mps", "accelerator"),
        ("strategy", "strategy"),
        ("devices", "devices"),
        ("num_nodes", "num_nodes"),
        ("max_epochs", "max_epochs"),
        ("max_steps", "max_steps"),
        ("val_check_interval", "val_check_interval"),
        ("limit_", "limit_*_batches"),
        ("gradient_clip", "gradient_clip_val"),
        ("accumulate_grad_batches", "accumulate_grad_batches"),
        ("profiler", "profiler"),
    ),
}

_MISSING_CONFIG = re.compile(r"Could not find '([^']+)'")


def key_named_in(group: str, message: str) -> str | None:
    """The key below ``group`` that a library's error message is about, if its words say."""
    lowered = message.lower()
    return next((key for word, key in KEY_WORDS.get(group, ()) if word in lowered), None)


def missing_config_path(err: Any) -> str:
    """The config file (``GROUP/OPTION``, or a primary config's name) Hydra could not find."""
    path = str(getattr(err, "missing_cfg_file", "") or "")
    found = _MISSING_CONFIG.search(str(err))
    return path or (found.group(1) if found else "")


def is_unknown_key(cause: BaseException) -> bool:
    """Whether OmegaConf's key error says the key is not in its node."""
    return "not in" in str(cause)


def sqlite_busy(message: str) -> bool:
    """Whether a SQLite error says another connection holds the database or a table."""
    lowered = message.lower()
    return "database is locked" in lowered or "database table is locked" in lowered


def unique_violation(message: str) -> bool:
    """Whether a database's integrity error is a UNIQUE (or primary key) conflict."""
    return "unique" in message.lower()
