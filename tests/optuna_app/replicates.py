"""A tiny Hydra app for replicate trials: its value is -(x - 2)^2 plus a seed-dependent term,
and each job writes what it saw."""

import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path=".", config_name="replicates")
def main(cfg: DictConfig) -> float:
    out = Path(HydraConfig.get().runtime.output_dir)
    seen = {"x": cfg.x, "label": cfg.label, "seed": cfg.seed, "trial": cfg.trial}
    (out / "job.json").write_text(json.dumps(seen))
    return -((cfg.x - 2.0) ** 2) + cfg.noise * (cfg.seed % 3)


if __name__ == "__main__":
    main()
