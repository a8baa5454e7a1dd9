"""One architecture's bench: the rounds of each path, and their statistics (medians, the
spread over rounds, the paired steps' median, the breakdown's layers)."""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gauntlet.bench.configs import LAYERS, check_supported, run_config, strip_to
from gauntlet.bench.paired import run_full, run_paired
from gauntlet.bench.plain import run_plain
from gauntlet.clock import Timing
from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)


def bench_model(
    name: str,
    overrides: list[str],
    steps: int,
    rounds: int,
    warmup_epochs: int,
    workdir: Path,
    cpu_time: bool = False,
    breakdown: bool = False,
    paired: bool = False,
) -> dict[str, Any]:
    import hydra

    base = run_config(overrides, workdir / name / "probe")
    check_supported(base)
    # whole epochs, so both paths see exactly the same batches: enough for `steps` timed ones
    data = hydra.utils.instantiate(base.data)
    data.setup("fit")
    per_epoch = len(data.train_dataloader())
    if per_epoch < 2:
        raise GauntletError(
            f"data.batch_size={data.batch_size}: only {per_epoch} step per epoch; steady state "
            "needs at least 2"
        )
    epochs = warmup_epochs + math.ceil(steps / (per_epoch - 1))
    overrides = [*overrides, f"trainer.max_epochs={epochs}", "trainer.max_steps=-1"]

    layers = list(LAYERS) if breakdown else ["full"]

    def plain_for(layer: str) -> str:
        """Where the plain timings that ``layer`` is compared with are kept: a paired run has
        its own plain steps, an unpaired one shares the plain runs."""
        return f"plain/{layer}" if paired and layer != "full" else "plain"

    results: dict[str, list[Timing]] = {p: [] for p in {"plain", *layers, *map(plain_for, layers)}}

    def record(path: str, r: int, timing: Timing) -> None:
        results[path].append(timing)
        log.info(
            "%s round %d %s: %.0f samples/s, %.1f us/step",
            name,
            r,
            path,
            timing.samples_per_s,
            timing.step_us,
        )

    for r in range(rounds):
        # rotate the order so that drift (thermal, caches, neighbours) hits every path alike
        paths = layers if paired else ["plain", *layers]
        for path in paths[r % len(paths) :] + paths[: r % len(paths)]:
            cfg = run_config(overrides, workdir / name / f"round{r}-{path}")
            if paired:
                full, plain = run_paired(strip_to(cfg, path), epochs, warmup_epochs, cpu_time)
                record(path, r, full)
                record(plain_for(path), r, plain)
            elif path == "plain":
                record(path, r, run_plain(cfg, epochs, warmup_epochs, cpu_time))
            else:
                record(path, r, run_full(strip_to(cfg, path), epochs, warmup_epochs, cpu_time))
    shown = [o for o in overrides if not o.startswith("paths.log_dir=")]
    row = summarize(name, shown, cfg, per_epoch, epochs, results)
    row["clock"] = "cpu" if cpu_time else "wall"
    row["paired"] = paired
    if paired:
        # each step's own difference: a step that the machine slowed down moves the median little
        steps = [
            f - p
            for full, plain in zip(results["full"], results["plain"], strict=True)
            for f, p in zip(full.step_s, plain.step_s, strict=True)
        ]
        row["overhead_us_step_median"] = statistics.median(steps) * 1e6
    if breakdown:
        # each layer's overhead over the plain loop, and what it adds to the layer below it
        row["breakdown"], below = [], 0.0
        for layer in LAYERS:
            timings, plains = results[layer], results[plain_for(layer)]
            step_us = statistics.median(t.step_us for t in timings)
            if paired:
                pairs = zip(timings, plains, strict=True)
                overhead = statistics.median(t.step_us - p.step_us for t, p in pairs)
            else:
                overhead = step_us - row["plain_step_us"]
            fit_x = statistics.median(
                t.wall_s / p.wall_s for t, p in zip(timings, plains, strict=True)
            )
            row["breakdown"].append(
                {
                    "layer": layer,
                    "step_us": step_us,
                    "overhead_us": overhead,
                    "adds_us": overhead - below,
                    "fit_x": fit_x,
                }
            )
            below = overhead
    return row


def summarize(name, overrides, cfg, per_epoch, epochs, results) -> dict[str, Any]:
    import torch

    full, plain = results["full"], results["plain"]
    med = statistics.median
    full_sps, plain_sps = med(t.samples_per_s for t in full), med(t.samples_per_s for t in plain)
    overheads = [f.step_us - p.step_us for f, p in zip(full, plain, strict=True)]
    device = "cpu"
    if torch.cuda.is_available() and cfg.trainer.accelerator in ("auto", "gpu", "cuda"):
        device = torch.cuda.get_device_name()
    return {
        "model": name,
        "data": cfg.data._target_.rsplit(".", 1)[-1].replace("DataModule", "").lower(),
        "overrides": overrides,
        "device": device,
        "precision": str(cfg.trainer.precision),
        "compile": bool(cfg.model.get("compile")),
        "batch_size": int(cfg.data.batch_size),
        "steps_per_epoch": per_epoch,
        "epochs": epochs,
        "timed_steps": len(full[0].step_s),
        "rounds": len(full),
        "full_samples_per_s": full_sps,
        "plain_samples_per_s": plain_sps,
        "ratio": full_sps / plain_sps,
        "full_step_us": med(t.step_us for t in full),
        "plain_step_us": med(t.step_us for t in plain),
        "overhead_us": med(overheads),
        # the spread over rounds: an overhead inside it is within the machine's noise
        "overhead_us_range": [min(overheads), max(overheads)],
        "full_wall_s": med(t.wall_s for t in full),
        "plain_wall_s": med(t.wall_s for t in plain),
        # the whole fit, validation and epoch-end work included, per round then the median
        "fit_x": med(f.wall_s / p.wall_s for f, p in zip(full, plain, strict=True)),
        "per_round": [
            {"full": _round(f), "plain": _round(p)} for f, p in zip(full, plain, strict=True)
        ],
    }


def _round(t: Timing) -> dict[str, float]:
    d = asdict(t)
    del d["step_s"]
    return {**d, "samples_per_s": t.samples_per_s, "step_us": t.step_us}
