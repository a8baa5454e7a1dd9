"""The sweeper's typed config, registered as ``hydra/sweeper=gauntlet_optuna``.

Kept free of Optuna imports: Hydra imports every module under ``hydra_plugins`` on each start.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from hydra.core.config_store import ConfigStore


class Sampler(Enum):
    tpe = "tpe"
    random = "random"
    gp = "gp"
    qmc = "qmc"
    cmaes = "cmaes"


class Pruner(Enum):
    none = "none"
    median = "median"
    # Optuna's SuccessiveHalvingPruner: asynchronous successive halving (ASHA); asha is its
    # short name
    successive_halving = "successive_halving"
    asha = "asha"
    hyperband = "hyperband"


@dataclass
class PrunerConf:
    # none: every trial runs to the end; median: stop a trial whose intermediate value is worse
    # than the median of earlier trials at the same step (steps are epochs with OptunaPruning);
    # successive_halving (asha): keep the top 1/reduction_factor of the trials at each rung;
    # hyperband: several successive-halving brackets. Trials in other processes (joblib,
    # gpu_pool, submitit, SLURM) are pruned too, through the study's storage.
    name: Pruner = Pruner.none
    # median: trials that always run to the end before the pruner starts comparing
    n_startup_trials: int = 5
    # median: steps of each trial that are never pruned
    n_warmup_steps: int = 0
    # median: check every this many steps
    interval_steps: int = 1
    # successive_halving, hyperband: the steps (epochs) of the first rung; null: Optuna's
    # default ("auto" for successive halving, 1 for hyperband)
    min_resource: Optional[Any] = None
    # hyperband: the steps of a trial that runs to the end; null: "auto" (the first trial's)
    max_resource: Optional[Any] = None
    # successive_halving, hyperband: 1/reduction_factor of the trials go on at each rung;
    # null: Optuna's default (4 for successive halving, 3 for hyperband)
    reduction_factor: Optional[int] = None


@dataclass
class GauntletOptunaSweeperConf:
    _target_: str = "hydra_plugins.gauntlet_optuna_sweeper.optuna_sweeper.GauntletOptunaSweeper"
    sampler: Sampler = Sampler.tpe
    seed: int | None = None
    # minimize | maximize, or a list of them when the task returns several values
    direction: Any = "minimize"
    # null: the Hydra job name (e.g. "train"); name it to keep searches apart in one storage
    study_name: str | None = None
    # an SQLAlchemy URL (sqlite:///optuna.db, postgresql+psycopg://...); null keeps it in memory
    storage: str | None = None
    # total number of finished trials the study should hold; a resumed study runs only the rest
    n_trials: int = 20
    # trials handed to the launcher per round
    n_jobs: int = 1
    # key: sweep expression, e.g. model.optimizer.lr: tag(log, interval(1e-4, 1e-2))
    params: dict[str, Any] | None = None
    pruner: PrunerConf | None = field(default_factory=PrunerConf)
    # re-run, with the same params, the trials an interrupted or killed sweep gave up on
    retry_abandoned: bool = False
    # seeds per trial (seed, seed + 1, ...); Optuna is told their mean or, with objective: lcb,
    # a pessimistic one-sided confidence bound at confidence (see _replicates.py)
    replicates: int = 1
    objective: str = "mean"
    confidence: float = 0.9


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="gauntlet_optuna",
    node=GauntletOptunaSweeperConf,
    provider="gauntlet_optuna_sweeper",
)
