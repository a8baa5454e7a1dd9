"""The Hydra Sweeper: asks Optuna for trials, launches them in rounds, tells it the results."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from gauntlet.errors import GauntletError
from hydra_plugins.gauntlet_optuna_sweeper.config import Pruner, PrunerConf, Sampler

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)


class GauntletOptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: Sampler | str,
        seed: int | None,
        direction: Any,
        study_name: str | None,
        storage: str | None,
        n_trials: int,
        n_jobs: int,
        params: dict[str, Any] | None,
        pruner: PrunerConf | Any | None,
        retry_abandoned: bool = False,
        replicates: int = 1,
        objective: str = "mean",
        confidence: float = 0.9,
    ) -> None:
        super().__init__()
        if n_trials < 0:
            raise GauntletError(f"hydra.sweeper.n_trials: expected 0 or more, got {n_trials}")
        if n_jobs < 1:
            raise GauntletError(f"hydra.sweeper.n_jobs: expected 1 or more, got {n_jobs}")
        self.sampler = sampler
        self.seed = seed
        self.direction = direction
        self.study_name = study_name
        # "null" can arrive as text from an environment variable
        self.storage = None if storage in (None, "", "null", "None") else str(storage)
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.params = dict(params or {})
        self.pruner = pruner
        self.retry_abandoned = bool(retry_abandoned)
        self.replicates = self._check_replicates(replicates, objective, confidence)
        self.objective, self.confidence = objective, confidence
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> optuna.Study:
        """Run trials until the study holds n_trials finished ones; return the study."""
        from hydra_plugins.gauntlet_optuna_sweeper import _study
        from hydra_plugins.gauntlet_optuna_sweeper._search_space import build_search_space
        from hydra_plugins.gauntlet_optuna_sweeper._shared_trial import tag_jobs
        from hydra_plugins.gauntlet_optuna_sweeper._trial_handle import exposed

        assert self.config is not None and self.hydra_context is not None
        assert self.launcher is not None

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        preset = [f"{key}={value}" for key, value in self.params.items()]
        space = build_search_space(parser.parse_overrides([*preset, *arguments]))

        directions = _study.parse_directions(self.direction)
        study_name = self.study_name or str(self.config.hydra.job.name)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        self.storage = self._shared_storage(sweep_dir)
        study = _study.open_study(
            study_name=study_name,
            storage=self.storage,
            directions=directions,
            sampler=_study.make_sampler(self.sampler, self.seed),
            pruner=self._pruner(len(directions)),
        )
        _study.abandon_stale_trials(study)
        earlier = len(study.get_trials(deepcopy=False))
        if earlier and self.seed is not None:
            # continue the search rather than replay it (see resumed_seed)
            study.sampler = _study.make_sampler(
                self.sampler, _study.resumed_seed(self.seed, earlier)
            )
        if self.retry_abandoned:
            _study.retry_abandoned(study)

        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        finished = _study.count_finished(study)
        log.info(
            "Optuna study '%s' in %s: %d of %d trials finished, %d to run in rounds of %d",
            study.study_name,
            _study.describe_storage(self.storage),
            finished,
            self.n_trials,
            max(self.n_trials - finished, 0),
            self.n_jobs,
        )
        for dim in space.dimensions:
            log.info("  searching %s: %s", dim.name, dim.distribution)

        # job numbers continue after the study's earlier trials, so a resumed sweep in the
        # same sweep dir does not overwrite their output
        job_idx = len(study.get_trials(deepcopy=False)) * self.replicates
        while finished < self.n_trials:
            trials = [
                study.ask(space.distributions)
                for _ in range(min(self.n_jobs, self.n_trials - finished))
            ]
            told = 0
            try:
                batch = [space.job_overrides(trial.params) for trial in trials]
                self.validate_batch_is_legal(batch)
                if self.replicates > 1:
                    # replicate jobs are not tagged: k jobs reporting to one trial would
                    # overwrite each other's steps, so they are never pruned
                    launched = self._launch_replicates(study, trials, batch, job_idx)
                    told = len(trials)
                else:
                    by_job = {job_idx + i: trial for i, trial in enumerate(trials)}
                    tag_jobs(by_job)
                    with exposed(by_job):
                        results = self.launcher.launch(batch, initial_job_idx=job_idx)
                    for trial, result in zip(trials, results, strict=True):
                        _study.tell_result(study, trial, result)
                        told += 1
                    launched = len(trials)
            except BaseException:
                for trial in trials[told:]:
                    _study.abandon(study, trial)
                raise
            finished += len(trials)
            job_idx += launched

        _study.write_results(study, sweep_dir, self.n_trials, self.storage)
        return study

    @staticmethod
    def _check_replicates(replicates: int, objective: str, confidence: float) -> int:
        from hydra_plugins.gauntlet_optuna_sweeper._replicates import OBJECTIVES

        if replicates < 1:
            raise GauntletError(f"hydra.sweeper.replicates: expected 1 or more, got {replicates}")
        if objective not in OBJECTIVES:
            raise GauntletError(
                f"hydra.sweeper.objective: expected {' or '.join(OBJECTIVES)}, got {objective!r}"
            )
        if not 0.5 <= confidence < 1:
            raise GauntletError(
                f"hydra.sweeper.confidence: expected a number in [0.5, 1), got {confidence}"
            )
        if objective == "lcb" and replicates < 2:
            raise GauntletError("hydra.sweeper.objective=lcb: needs replicates of 2 or more")
        return replicates

    def _launch_replicates(
        self, study: optuna.Study, trials: list[Any], batch: list[list[str]], job_idx: int
    ) -> int:
        """Launch every trial's replicates in one round and tell Optuna each trial's combined
        value; returns the number of jobs launched."""
        from hydra_plugins.gauntlet_optuna_sweeper import _replicates

        assert self.config is not None
        k = self.replicates
        jobs, seeds = _replicates.replicate_batch(
            batch, trials, int(self.config.get("seed") or 0), k
        )
        self.validate_batch_is_legal(jobs)
        results = self.launcher.launch(jobs, initial_job_idx=job_idx)
        for index, trial in enumerate(trials):
            _replicates.tell_replicates(
                study,
                trial,
                results[index * k : (index + 1) * k],
                seeds[index],
                self.objective,
                self.confidence,
            )
        return len(jobs)

    def _shared_storage(self, sweep_dir: Path) -> str | None:
        """The study's storage: the given one, else memory when the jobs run in this process
        (Hydra's basic launcher), else an SQLite file in the sweep dir that every job opens
        to report to its trial (see _shared_trial)."""
        from gauntlet.compat.hydra import runs_in_this_process
        from hydra_plugins.gauntlet_optuna_sweeper._shared_trial import storage_url

        in_process = runs_in_this_process(self.launcher)
        url = storage_url(self.storage, sweep_dir, jobs_in_this_process=in_process)
        if url != self.storage:
            log.info("the jobs run in other processes: the study is kept in %s", url)
        return url

    def _pruner(self, n_objectives: int) -> optuna.pruners.BasePruner:
        from hydra_plugins.gauntlet_optuna_sweeper import _study

        name = getattr(self.pruner, "name", Pruner.none)
        if self.pruner is None or Pruner(getattr(name, "value", name)) is Pruner.none:
            return _study.make_pruner(None)
        if n_objectives > 1:
            log.warning("Optuna cannot prune with several objectives; trials run to the end")
            return _study.make_pruner(None)
        return _study.make_pruner(self.pruner)
