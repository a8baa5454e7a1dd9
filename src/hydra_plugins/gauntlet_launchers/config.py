"""The launchers' typed configs: ``hydra/launcher=gauntlet_joblib`` and ``hydra/launcher=gpu_pool``.

Kept free of heavy imports: Hydra imports every module under ``hydra_plugins`` on each start.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf

TARGET = "hydra_plugins.gauntlet_launchers.isolated_joblib.IsolatedJoblibLauncher"


@dataclass
class IsolatedJoblibLauncherConf(JobLibLauncherConf):
    _target_: str = TARGET
    # null: jobs are not placed on GPUs; "all": every GPU this process sees; or a list of
    # GPU indices (as torch numbers them here). Each job then sees one GPU only.
    gpus: Any = None
    # jobs one GPU holds at once (the pool runs len(gpus) * jobs_per_gpu jobs in parallel)
    jobs_per_gpu: int = 1
    # modules each joblib worker imports once, before it forks its jobs, so a job does not
    # import them again (they must not start CUDA: the job's GPU is chosen after the fork)
    preload: list[str] = field(default_factory=list)


@dataclass
class GPUPoolLauncherConf(IsolatedJoblibLauncherConf):
    gpus: Any = "all"


store = ConfigStore.instance()
store.store(
    group="hydra/launcher",
    name="gauntlet_joblib",
    node=IsolatedJoblibLauncherConf,
    provider="gauntlet_launchers",
)
store.store(
    group="hydra/launcher", name="gpu_pool", node=GPUPoolLauncherConf, provider="gauntlet_launchers"
)
