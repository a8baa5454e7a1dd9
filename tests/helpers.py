"""What tests share besides fixtures: the repository's paths, the short-run overrides, and
running the real train entry point in-process. Imported as ``from helpers import ...``
(pytest puts ``tests/`` on the path); fixtures stay in ``conftest.py``."""

from __future__ import annotations

import json
from pathlib import Path

from gauntlet.config import compose

__all__ = [
    "CONF",
    "FAST",
    "REPO",
    "TINY",
    "compose",
    "run_training",
    "same_weights",
    "strip_hydra",
    "trained_weights",
]

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

# a few batches of one epoch: enough to exercise every part of a run
FAST = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
]

# a sweep job: one epoch of two batches on a small network, logged to CSV only
TINY = [
    "logger=csv",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "model.net.hidden=16",
]


def strip_hydra(cfg):
    """The composed config without its ``hydra`` node, as ``train.run`` receives it."""
    from omegaconf import open_dict

    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def run_training(tmp_path: Path, overrides: list[str], name: str = "run") -> tuple[dict, Path]:
    """Run the real train entry point in-process; returns (manifest, run_dir)."""
    from gauntlet.train import run

    run_dir = tmp_path / name
    cfg = compose([f"paths.log_dir={tmp_path}", *overrides], run_dir=run_dir)
    run(strip_hydra(cfg))
    return json.loads((run_dir / "manifest.json").read_text()), run_dir


def trained_weights(run_dir: Path) -> dict:
    """The network's weights in a run's last checkpoint, on the CPU."""
    import torch

    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return ckpt["state_dict"]


def same_weights(a: Path, b: Path) -> bool:
    """Whether two runs ended with exactly the same weights (a run is reproducible: the same
    seed and settings give the same weights, so a switch that reaches training changes them)."""
    import torch

    wa, wb = trained_weights(a), trained_weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def gauntlet(*args: str) -> int:
    """``gauntlet ARGS`` in this process; its exit status. What the command sets for its child
    processes (the config dir, PYTHONPATH) and sys.path are put back afterwards."""
    import os
    import sys

    from hydra.core.global_hydra import GlobalHydra

    from gauntlet.cli import main

    GlobalHydra.instance().clear()
    argv, path, environ = sys.argv, list(sys.path), dict(os.environ)
    try:
        return main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        sys.argv, sys.path[:] = argv, path
        os.environ.clear()
        os.environ.update(environ)
        GlobalHydra.instance().clear()
