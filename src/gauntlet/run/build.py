"""A run, built from its config: the datamodule (first: the network is built from its input
spec), the LightningModule, the Trainer with its callbacks and loggers. Every component comes
from a ``_target_``; errors that torch or Lightning raise from a user's value become a
:class:`~gauntlet.errors.GauntletError` naming the key (see :mod:`gauntlet.run.user_errors`).
Each part is timed as a start-up phase (:mod:`gauntlet.run.startup`)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from gauntlet.run import startup


def build(cfg: DictConfig, run_id: str | None = None, run_config: dict | None = None):
    """Seeded, the datamodule, module and trainer of ``cfg``. ``run_id`` names the W&B run;
    ``run_config`` (the manifest's redacted config) goes into every checkpoint."""
    import pytorch_lightning as pl

    from gauntlet.console import quiet_dependencies
    from gauntlet.seeding import seed_training

    quiet_dependencies()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    with startup.phase("data"):
        datamodule = _build_data(cfg)
    with startup.phase("network"):
        module = _build_module(cfg, datamodule)
    seed_training(cfg)
    with startup.phase("trainer"):
        trainer = _build_trainer(cfg, run_id, run_config)
    return datamodule, module, trainer


def _build_data(cfg: DictConfig) -> Any:
    from gauntlet.errors import from_constructor

    with from_constructor("data"):
        datamodule = hydra.utils.instantiate(cfg.data)
    if cfg.get("synthesize") and "_target_" in cfg.synthesize:
        with from_constructor("synthesize"):
            datamodule.synthesizer = hydra.utils.instantiate(cfg.synthesize)
    with from_constructor("data"):
        datamodule.setup("fit")
    return datamodule


def _build_module(cfg: DictConfig, datamodule: Any) -> Any:
    from gauntlet.errors import from_constructor
    from gauntlet.run.user_errors import check_optimizer

    with from_constructor("model.net"):
        from gauntlet.models.build import build_network
        from gauntlet.seeding import build_network as seeded_network

        net = seeded_network(cfg, lambda: build_network(cfg.model.net, datamodule.spec))
    augment = None
    if cfg.get("augment") and "_target_" in cfg.augment:
        with from_constructor("augment"):
            augment = hydra.utils.instantiate(cfg.augment, spec=datamodule.spec)
    with from_constructor("model"):
        module = hydra.utils.instantiate(plain(cfg.model), net=net, augment=augment)
    check_optimizer(module)
    return module


def _build_trainer(cfg: DictConfig, run_id: str | None, run_config: dict | None) -> Any:
    import pytorch_lightning as pl

    from gauntlet.callbacks.async_checkpoint import AsyncCheckpointIO
    from gauntlet.errors import from_constructor
    from gauntlet.loggers import build_loggers

    callbacks = instantiate_all(cfg.get("callbacks"))
    marks = startup.callback()
    if marks is not None:
        callbacks.append(marks)
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    if run_config is not None:
        from gauntlet.callbacks.run_config import RunConfig

        callbacks.append(RunConfig(run_config))
    step_every = cfg.trainer.get("log_every_n_steps")
    if step_every is not None:  # else metrics are logged per epoch only
        from gauntlet.callbacks.step_loss import StepLoss

        callbacks.append(StepLoss())
    loggers = build_loggers(cfg.get("logger"), run_id, cfg)
    with from_constructor("trainer"):
        make_trainer = hydra.utils.instantiate(
            cfg.trainer, callbacks=callbacks, logger=loggers or False, _partial_=True
        )
        # 0: Lightning neither gathers step metrics nor warns that an epoch is shorter than
        # its default interval of 50 steps
        return make_trainer(plugins=[AsyncCheckpointIO()], log_every_n_steps=step_every or 0)


def instantiate_all(group: DictConfig | None, **kwargs: Any) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group such as ``callbacks`` or ``logger``."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(node, **kwargs)
        for node in group.values()
        if node and "_target_" in node
    ]


def plain(node: DictConfig) -> DictConfig:
    """An untyped copy of a config node, so objects (a built network) can be passed into it."""
    return OmegaConf.create(OmegaConf.to_container(node, resolve=True))
