"""Loggers that gauntlet configures in place of Lightning's own (``conf/logger/``).

Both subclass Lightning's and reach into its internals, so they live behind the compat wall:

- :class:`CSVLogger` continues a resumed run's ``metrics.csv``
  (:mod:`gauntlet.compat.lightning.csv_writer`);
- :class:`WandbLogger` leaves out ``anonymous`` and W&B Launch's import at a run's start
  (:mod:`gauntlet.compat.lightning.wandb_logger`).
"""

from __future__ import annotations

from gauntlet.compat.lightning.csv_writer import CSVLogger
from gauntlet.compat.lightning.wandb_logger import WandbLogger

__all__ = ["CSVLogger", "WandbLogger"]
