"""The launcher: Hydra's joblib launcher, each job in a process of its own (see _job_process)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)

# our own keys, not joblib.Parallel's
OWN_KEYS = ("gpus", "jobs_per_gpu", "preload")


class IsolatedJoblibLauncher(JoblibLauncher):
    def __init__(self, **kwargs: Any) -> None:
        own = {key: kwargs.pop(key, None) for key in OWN_KEYS}
        super().__init__(**kwargs)
        self.gpus = own["gpus"]
        self.jobs_per_gpu = 1 if own["jobs_per_gpu"] is None else own["jobs_per_gpu"]
        self.preload = list(own["preload"] or [])

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from joblib import Parallel, delayed

        from hydra_plugins.gauntlet_launchers._job_process import execute_job

        setup_globals()
        assert self.config is not None and self.task_function is not None
        assert self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)

        slots = self._slots()
        options = {key: value for key, value in self.joblib.items() if value is not None}
        # loky: processes, as Hydra's joblib launcher; the pool of a GPU pool is its slots
        options.update(backend="loky", prefer="processes")
        if slots:
            options["n_jobs"] = len(slots)
        for key in ("pre_dispatch", "batch_size", "max_nbytes"):
            if isinstance(options.get(key), str) and options[key].isdigit():
                options[key] = int(options[key])
        gpus = list(dict.fromkeys(slot.gpu for slot in slots))
        where = f" on GPUs {','.join(gpus)}, {self.jobs_per_gpu} per GPU" if slots else ""
        log.info(
            "launching %d jobs, %s at a time%s, each in its own process; sweep dir %s",
            len(job_overrides),
            options.get("n_jobs"),
            where,
            sweep_dir,
        )
        for idx, overrides in enumerate(job_overrides):
            log.info("\t#%d : %s", initial_job_idx + idx, " ".join(filter_overrides(overrides)))

        state = Singleton.get_state()
        runs = Parallel(**options)(
            delayed(execute_job)(
                initial_job_idx + idx,
                overrides,
                self.hydra_context,
                self.config,
                self.task_function,
                state,
                slots,
                self.preload,
            )
            for idx, overrides in enumerate(job_overrides)
        )
        return list(runs)

    def _slots(self) -> list:
        if self.gpus is None:
            return []
        from gauntlet.errors import GauntletError, exit_with
        from hydra_plugins.gauntlet_launchers._gpu_slots import plan_slots

        accelerator = OmegaConf.select(self.config, "trainer.accelerator", default=None)
        try:
            return plan_slots(self.gpus, self.jobs_per_gpu, accelerator)
        except GauntletError as err:
            exit_with(err)  # a user error: its message and exit 2, not Hydra's traceback
            raise
