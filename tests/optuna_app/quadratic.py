"""A tiny Hydra app the sweeper tests launch: returns -(x - 2)^2 + y, or fails on demand.

With objectives=2 it returns [-(x - 2)^2 + y, |x|] for a two-objective search.
"""

import json
import os
from pathlib import Path

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hydra_plugins.gauntlet_optuna_sweeper import current_trial


@hydra.main(version_base="1.3", config_path=".", config_name="quadratic")
def main(cfg: DictConfig) -> float | list[float] | None:
    job = HydraConfig.get().job.num
    out = Path(HydraConfig.get().runtime.output_dir)
    value = -((cfg.x - 2.0) ** 2) + cfg.y
    (out / "job.json").write_text(json.dumps({"x": cfg.x, "y": cfg.y, "label": cfg.label}))
    (out / "pid.txt").write_text(str(os.getpid()))
    if job in cfg.exit_on_jobs:
        os._exit(3)
    if job in cfg.interrupt_on_jobs:
        raise KeyboardInterrupt
    if job in cfg.raise_on_jobs:
        raise RuntimeError(f"job {job} was told to fail")
    if job in cfg.nan_on_jobs:
        return float("nan")
    if job in cfg.none_on_jobs:
        return None
    trial = current_trial()
    for step in range(cfg.report_steps):
        if trial is None:
            break
        trial.report(-100.0 if job in cfg.bad_jobs else 0.0, step)
        (out / "steps.txt").write_text(str(step + 1))
        if trial.should_prune():
            raise optuna.TrialPruned()
    if cfg.objectives == 2:
        return [value, abs(cfg.x)]
    return value


if __name__ == "__main__":
    main()
