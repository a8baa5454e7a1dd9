"""The configs the bench runs: each architecture's defaults, the composed config per round,
what the plain loop can reproduce, and the layers ``--breakdown`` takes the full path apart into.
"""

from __future__ import annotations

from pathlib import Path

from gauntlet.config import compose
from gauntlet.errors import GauntletError

# what each architecture is benchmarked on unless the overrides say otherwise
MODEL_DEFAULTS: dict[str, list[str]] = {
    "cnn": ["model=cnn", "data=digits"],
    "rnn": ["model=rnn", "data=mnist1d", "model.net.cell=gru"],
    "transformer": ["model=transformer", "data=digits"],
}
PRECISIONS = {
    "32-true": None,
    "32": None,
    "bf16-mixed": "bfloat16",
    "16-mixed": "float16",
    "16": "float16",
}


def run_config(overrides: list[str], run_dir: Path):
    """The resolved config (no ``hydra`` node) that ``gauntlet train OVERRIDES`` would run in
    ``run_dir``, with Hydra's runtime config set for that run."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    try:
        cfg = compose(overrides, run_dir=run_dir)
    except HydraException as err:
        raise GauntletError(f"bench overrides {overrides}: {err}") from err
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    return OmegaConf.create(container)


def check_supported(cfg) -> None:
    """The plain loop reproduces a plain training step; refuse what it would not reproduce."""
    tr = cfg.trainer
    if str(tr.precision) not in PRECISIONS:
        raise GauntletError(
            f"trainer.precision={tr.precision}: bench supports {sorted(PRECISIONS)}"
        )
    devices = tr.devices
    if tr.num_nodes != 1 or (devices not in (1, "1", "auto") and devices != [0]):
        raise GauntletError(
            f"trainer.devices={devices}, trainer.num_nodes={tr.num_nodes}: bench runs on one "
            "device (compare distributed runs with the perf/* metrics of `gauntlet train`)"
        )


# --breakdown: the full path taken apart, cheapest first; each adds to the one before it
LAYERS = {
    "lightning": "Lightning's loop (no callbacks, loggers, progress bar or checkpoints)",
    "callbacks": "+ the configured callbacks and progress bar",
    "full": "+ the loggers (the full path)",
}


def strip_to(cfg, layer: str):
    """``cfg`` with the parts of the full path above ``layer`` switched off."""
    from omegaconf import open_dict

    if layer == "full":
        return cfg
    with open_dict(cfg):
        cfg.logger = None
        if layer == "lightning":
            cfg.callbacks = None
            cfg.trainer.enable_progress_bar = False
            cfg.trainer.enable_checkpointing = False
            cfg.trainer.enable_model_summary = False
    return cfg
