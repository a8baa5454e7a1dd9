"""The full path, timed: gauntlet's training run with a step clock, alone or paired with the
plain loop, which then takes its own step on each batch right after the full path's."""

from __future__ import annotations

import time

from gauntlet.bench.plain import PlainLoop
from gauntlet.clock import StepClock, Timing
from gauntlet.errors import GauntletError


def fit_timed(
    cfg, epochs: int, warmup_epochs: int, cpu_time: bool = False, plain: PlainLoop | None = None
) -> tuple[StepClock, float]:
    """gauntlet's training path, exactly as ``gauntlet train`` builds it, plus a step clock
    that marks the end of each step. With ``plain``, the plain loop then takes its own step on
    the same batch, and the clock marks its end too. Returns the clock and the fit's wall time.
    """
    import pytorch_lightning as pl
    import torch

    from gauntlet.loggers import finish_wandb, start_wandb_runs
    from gauntlet.run.manifest import new_run_id
    from gauntlet.train import build

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.clock: StepClock | None = None

        def on_fit_start(self, trainer, pl_module) -> None:
            self.clock = StepClock(trainer.strategy.root_device, cpu_time)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            epoch, size = trainer.current_epoch, len(batch[1])
            self.clock.mark(epoch, size)
            if plain is not None:
                with torch.enable_grad():
                    plain.step(*batch, batch_idx, trainer.num_training_batches - 1)
                self.clock.mark(epoch, size)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if plain is not None:
                plain.validate()
                plain.epoch_end()

    datamodule, module, trainer = build(cfg, new_run_id())
    clock = Clock()
    trainer.callbacks.append(clock)
    # as `gauntlet train` does, the wandb run starts before fit (it is start-up, timed there)
    start_wandb_runs(trainer)
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule)
    finally:
        finish_wandb()
    wall = time.perf_counter() - started
    if trainer.current_epoch < epochs:
        raise GauntletError(f"the full path stopped at epoch {trainer.current_epoch} of {epochs}")
    return clock.clock, wall


def run_full(cfg, epochs: int, warmup_epochs: int, cpu_time: bool = False) -> Timing:
    clock, wall = fit_timed(cfg, epochs, warmup_epochs, cpu_time)
    return clock.timing("full", wall, warmup_epochs)


def run_paired(
    cfg, epochs: int, warmup_epochs: int, cpu_time: bool = False
) -> tuple[Timing, Timing]:
    """Both paths in one run, a step of each in turn: after each of the full path's steps the
    plain loop takes its own step on the same batch. Each full step is timed from the end of
    the plain step before it, so the two figures of a step are milliseconds apart and drift in
    the machine's speed falls on both alike. ``wall_s`` splits the run's wall time between them:
    the plain loop's share is its steps and its validation passes, the rest is the full path's.
    """
    plain_loop = PlainLoop(cfg)  # first: built from the same seed as the full path after it
    clock, wall = fit_timed(cfg, epochs, warmup_epochs, cpu_time, plain_loop)
    plain = clock.timing("plain", 0.0, warmup_epochs, every=2, offset=3)
    full = clock.timing("full", 0.0, warmup_epochs, every=2, offset=2)
    plain_all = clock.timing(
        "plain", 0.0, warmup_epochs, every=2, offset=1, warmup=True
    ).seconds  # every step
    plain_all += plain_loop.val_s
    full.wall_s, plain.wall_s = wall - plain_all, plain_all
    return full, plain
