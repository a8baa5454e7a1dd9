"""Configs that gauntlet composes but a user never picks: kept out of every list Hydra shows.

``model/base`` (what every model shares, included by each model file), the typed schemas
(``schema/*``, ``train_schema``) and ``paths`` (set by key, ``paths.log_dir=...``, never chosen)
stay loadable, so ``defaults: [base, _self_]`` in a user's own model file still finds
``model/base``; they only leave the lists: ``--help``'s groups, tab completion, the choices a
composition error names, and ``glob(*)`` sweeps.

Hydra 1.3 has no notion of a hidden option: every list goes through
``ConfigRepository.get_group_options``, so that one method is wrapped (measured on Hydra 1.3.8;
tested by tests/test_first_hour.py).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# former names of options, still composed (each file includes its new name), warned about and
# kept out of the lists: group -> {old: new}
DEPRECATED: dict[str, dict[str, str]] = {
    "experiment": {
        "mnist1d_gru": "mnist1d_rnn",
        "gpu_cnn": "digits_cnn_gpu",
        "gpu_rnn": "mnist1d_rnn_gpu",
        "gpu_transformer": "mnist1d_transformer_gpu",
    },
}
# group ("" for the top level) -> names kept out of its lists (options and sub-groups alike)
HIDDEN: dict[str, frozenset[str]] = {
    "": frozenset({"schema", "paths", "train_schema", "local"}),
    "model": frozenset({"base"}),
    **{group: frozenset(names) for group, names in DEPRECATED.items()},
}


def is_hidden(group: str, name: str) -> bool:
    return name in HIDDEN.get(group.strip("/"), frozenset())


def visible(group: str, names: list[str]) -> list[str]:
    return [n for n in names if not is_hidden(group, n)]


def install() -> None:
    """Leave the hidden names out of every option listing Hydra makes; idempotent."""
    from gauntlet.compat.hydra import filter_group_options

    filter_group_options(visible)


def refuse_hidden_choices(choices: dict[str, Any]) -> None:
    """``model=base`` composes (the file exists) but is no model: say so before building; a
    deprecated name runs, with a warning that names the new one."""
    from gauntlet.errors import GauntletError

    for group, option in choices.items():
        renamed = DEPRECATED.get(str(group), {}).get(str(option))
        if renamed is not None:
            log.warning(
                "%s=%s is deprecated, the same as %s=%s (presets are named <data>_<model>)",
                group,
                option,
                group,
                renamed,
            )
        elif option is not None and is_hidden(str(group), str(option)):
            from gauntlet.run.user_errors import group_options

            options = group_options(str(group))
            listed = f"; choose one of: {', '.join(options)}" if options else ""
            raise GauntletError(
                f"{group}={option} is gauntlet's internal config (what every {group} "
                f"shares), not a choice{listed}"
            )
