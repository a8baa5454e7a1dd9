"""The run directory is writable before Hydra writes into it.

Hydra creates the run (or sweep) directory and saves ``.hydra/config.yaml`` there before any
gauntlet code runs; on a full or read-only disk that is a traceback from inside Hydra. This
Hydra callback (``hydra.callbacks.output_dir`` in ``conf/hydra/default.yaml``) runs first and
writes a probe file through the atomic writer; a failure ends the command with one line and
exit code 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gauntlet.run.files import atomic_write_text, disk_faults

PROBE_BYTES = 16 * 1024


def check_writable(directory: Path, what: str) -> None:
    with disk_faults(what):
        # a few kB: a full disk still takes an empty file
        probe = atomic_write_text(directory / f".probe-{os.getpid()}", " " * PROBE_BYTES)
        probe.unlink(missing_ok=True)


class OutputDirCheck(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        directory = OmegaConf.select(config, "hydra.run.dir", default=None)
        if directory:
            check_writable(Path(str(directory)), f"run directory {directory}")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        directory = OmegaConf.select(config, "hydra.sweep.dir", default=None)
        if directory:
            check_writable(Path(str(directory)), f"sweep directory {directory}")
