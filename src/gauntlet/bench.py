"""``gauntlet bench``: what does the framework cost per training step?

For each architecture it trains the configured model and data twice, alternating over several
rounds, for the same epochs and so the same batches:

- **full**: gauntlet's own training path, built by :func:`gauntlet.train.build` with the loggers
  and callbacks a user gets (wandb offline, CSV, checkpoints, curves, progress bar, throughput);
- **plain**: a minimal hand-written PyTorch loop over the same network (same seed, so the same
  initial weights), the same batches, the same optimizer and scheduler, the same precision.

Two figures come out of each run:

- **the steady-state step**: the first ``--warmup-epochs`` epochs are left out, and inside every
  other epoch the clock runs from the end of its first step to the end of its last, so
  epoch-level work (iterator set-up, validation, checkpoints, epoch logs) is outside the window
  in both paths;
- **the whole fit**: the wall time of ``trainer.fit`` against the plain loop's wall time for the
  same epochs, where the plain loop also validates after every epoch (an ``eval()`` pass under
  ``inference_mode`` over the same validation batches, loss and accuracy). This is what a user
  waits for, epoch-end work included.

Timestamps are ``perf_counter`` on a CPU and CUDA events on a GPU, so timing adds no
synchronisation.

With ``--paired`` both paths share one run: after each of the full path's steps the plain loop
takes its own step on the same batch (see :func:`run_paired`). On a machine whose speed drifts
from one minute to the next, this compares steps taken milliseconds apart rather than runs
taken a minute apart.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import statistics
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)

# what each architecture is benchmarked on unless the overrides say otherwise
MODEL_DEFAULTS: dict[str, list[str]] = {
    "cnn": ["model=cnn", "data=digits"],
    "rnn": ["model=rnn", "data=mnist1d", "model.net.cell=gru"],
    "transformer": ["model=transformer", "data=digits"],
}
PRECISIONS = {
    "32-true": None,
    "32": None,
    "bf16-mixed": "bfloat16",
    "16-mixed": "float16",
    "16": "float16",
}


@dataclass
class Timing:
    """One run of one path: per-step intervals of the timed window, and the run's wall time."""

    path: str
    step_s: list[float] = field(default_factory=list)
    samples: int = 0
    wall_s: float = 0.0

    @property
    def seconds(self) -> float:
        return sum(self.step_s)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def step_us(self) -> float:
        return self.seconds / len(self.step_s) * 1e6 if self.step_s else float("nan")


class StepClock:
    """Marks the end of every training step; reduces to steady-state intervals at the end.

    ``mark`` costs one ``perf_counter`` (CPU) or one recorded CUDA event (GPU, no sync), and
    both paths call it at the same point: after the optimizer has been given the step.
    """

    def __init__(self, device: Any, warmup_epochs: int, cpu_time: bool = False) -> None:
        import torch

        self.cuda = device.type == "cuda"
        # process CPU time instead of wall time: steadier on a CPU that others share
        self._now = time.process_time if cpu_time else time.perf_counter
        self._torch = torch
        self.warmup_epochs = warmup_epochs
        self.marks: dict[int, list[Any]] = {}
        self.sizes: dict[int, list[int]] = {}

    def mark(self, epoch: int, size: int) -> None:
        if self.cuda:
            stamp = self._torch.cuda.Event(enable_timing=True)
            stamp.record()
        else:
            stamp = self._now()
        self.marks.setdefault(epoch, []).append(stamp)
        self.sizes.setdefault(epoch, []).append(size)

    def timing(
        self, path: str, wall_s: float, every: int = 1, offset: int = 0, warmup: bool = False
    ) -> Timing:
        """The intervals that end on marks ``offset``, ``offset + every``, ... of each epoch
        after the warm-up epochs (of every epoch with ``warmup``).

        A clock that both paths of a paired run mark in turn (full, plain, full, ...) gives the
        full path's steps with ``every=2, offset=2`` and the plain loop's with ``every=2,
        offset=3``; the first step of each epoch is left out either way.
        """
        out = Timing(path, wall_s=wall_s)
        if self.cuda:
            self._torch.cuda.synchronize()
        for epoch, marks in sorted(self.marks.items()):
            if epoch < self.warmup_epochs and not warmup:
                continue
            for i in range(offset or 1, len(marks), every):
                a, b = marks[i - 1], marks[i]
                out.step_s.append(a.elapsed_time(b) / 1000.0 if self.cuda else b - a)
                out.samples += self.sizes[epoch][i]
        return out


# -- configs ---------------------------------------------------------------------------------


def compose(overrides: list[str]):
    """The config ``gauntlet train OVERRIDES`` would run, with Hydra's runtime config set."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from gauntlet.config import CONFIG_DIR, register_schemas

    register_schemas()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return hydra_compose("train", overrides=overrides, return_hydra_config=True)
    except HydraException as err:
        raise GauntletError(f"bench overrides {overrides}: {err}") from err


def resolve_for(cfg, run_dir: Path):
    """A resolved copy of ``cfg`` (no ``hydra`` node) whose run directory is ``run_dir``."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    cfg = copy.deepcopy(cfg)  # set_config below makes the hydra node read-only
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.num = 0
    run_dir.mkdir(parents=True, exist_ok=True)
    HydraConfig.instance().set_config(cfg)
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    return OmegaConf.create(container)


def check_supported(cfg) -> None:
    """The plain loop reproduces a plain training step; refuse what it would not reproduce."""
    tr = cfg.trainer
    if str(tr.precision) not in PRECISIONS:
        raise GauntletError(
            f"trainer.precision={tr.precision}: bench supports {sorted(PRECISIONS)}"
        )
    devices = tr.devices
    if tr.num_nodes != 1 or (devices not in (1, "1", "auto") and devices != [0]):
        raise GauntletError(
            f"trainer.devices={devices}, trainer.num_nodes={tr.num_nodes}: bench runs on one "
            "device (compare distributed runs with the perf/* metrics of `gauntlet train`)"
        )


# -- the two paths ---------------------------------------------------------------------------

# --breakdown: the full path taken apart, cheapest first; each adds to the one before it
LAYERS = {
    "lightning": "Lightning's loop (no callbacks, loggers, progress bar or checkpoints)",
    "callbacks": "+ the configured callbacks and progress bar",
    "full": "+ the loggers (the full path)",
}


def strip_to(cfg, layer: str):
    """``cfg`` with the parts of the full path above ``layer`` switched off."""
    from omegaconf import open_dict

    if layer == "full":
        return cfg
    with open_dict(cfg):
        cfg.logger = None
        if layer == "lightning":
            cfg.callbacks = None
            cfg.trainer.enable_progress_bar = False
            cfg.trainer.enable_checkpointing = False
            cfg.trainer.enable_model_summary = False
    return cfg


def fit_timed(
    cfg, epochs: int, warmup_epochs: int, cpu_time: bool = False, plain: PlainLoop | None = None
) -> tuple[StepClock, float]:
    """gauntlet's training path, exactly as ``gauntlet train`` builds it, plus a step clock
    that marks the end of each step. With ``plain``, the plain loop then takes its own step on
    the same batch, and the clock marks its end too. Returns the clock and the fit's wall time.
    """
    import pytorch_lightning as pl
    import torch

    from gauntlet.repro.manifest import new_run_id
    from gauntlet.train import build, finish_wandb

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.clock: StepClock | None = None

        def on_fit_start(self, trainer, pl_module) -> None:
            self.clock = StepClock(trainer.strategy.root_device, warmup_epochs, cpu_time)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            epoch, size = trainer.current_epoch, len(batch[1])
            self.clock.mark(epoch, size)
            if plain is not None:
                with torch.enable_grad():
                    plain.step(*batch, batch_idx, trainer.num_training_batches - 1)
                self.clock.mark(epoch, size)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if plain is not None:
                plain.validate()
                plain.epoch_end()

    datamodule, module, trainer = build(cfg, new_run_id())
    clock = Clock()
    trainer.callbacks.append(clock)
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule)
    finally:
        finish_wandb()
    wall = time.perf_counter() - started
    if trainer.current_epoch < epochs:
        raise GauntletError(f"the full path stopped at epoch {trainer.current_epoch} of {epochs}")
    return clock.clock, wall


def run_full(cfg, epochs: int, warmup_epochs: int, cpu_time: bool = False) -> Timing:
    clock, wall = fit_timed(cfg, epochs, warmup_epochs, cpu_time)
    return clock.timing("full", wall)


class PlainLoop:
    """A minimal hand-written training step: the same network (same seed, so the same initial
    weights), optimizer, scheduler, precision, accumulation and clipping as the config's run."""

    def __init__(self, cfg) -> None:
        import torch
        import torch.nn.functional as F
        from torch.nn.utils import clip_grad_norm_, clip_grad_value_

        from gauntlet.train import build

        # the trainer is built only to name the device
        datamodule, module, trainer = build(strip_to(copy.deepcopy(cfg), "lightning"))
        extras = {"augment": module.augment, "mixup/cutmix": module.mixing}
        extras["adversarial"] = module.adversarial
        on = [name for name, value in extras.items() if value is not None]
        if on:
            raise GauntletError(
                f"{', '.join(on)} switched on: bench compares a plain training step; switch it "
                "off (augment=none, model.mixup.alpha=0, model.cutmix.alpha=0, "
                "model.adversarial.attack=null)"
            )
        self.datamodule = datamodule
        self.device = device = trainer.strategy.root_device
        module.configure_model()  # model.compile=true compiles the network the same way
        self.net = module.net.to(device).train()
        configured = module.configure_optimizers()
        if isinstance(configured, dict):
            self.optimizer = configured["optimizer"]
            self.scheduler = configured["lr_scheduler"]["scheduler"]
        else:
            self.optimizer, self.scheduler = configured, None
        dtype = PRECISIONS[str(cfg.trainer.precision)]
        if dtype == "float16" and device.type == "cpu":
            dtype = "bfloat16"  # as Lightning does: no fp16 autocast on a CPU
        self.autocast = (
            (lambda: torch.autocast(device.type, dtype=getattr(torch, dtype)))
            if dtype
            else nullcontext
        )
        self.scaler = torch.amp.GradScaler(device.type) if dtype == "float16" else None
        self.accumulate = int(cfg.trainer.accumulate_grad_batches)
        self.clip = cfg.trainer.get("gradient_clip_val")
        by_value = cfg.trainer.get("gradient_clip_algorithm") == "value"
        self.clip_grad = clip_grad_value_ if by_value else clip_grad_norm_
        self.cross_entropy = F.cross_entropy
        self.smoothing = module.label_smoothing
        self.val_batches = self._batches("val", shuffle=False)
        self.val_s = 0.0  # time spent validating, for a paired run's split of its wall time

    def _batches(self, split: str, shuffle: bool, epoch_fn=None):
        from gauntlet.data.base import TensorBatches

        dm = self.datamodule
        return TensorBatches(
            dm.splits[split].to(self.device),
            dm.batch_size if shuffle else dm.eval_batch_size,
            shuffle=shuffle,
            seed=dm.seed,
            epoch_fn=epoch_fn,
        )

    def step(self, x, y, i: int, last: int) -> None:
        """Batch ``i`` of an epoch whose last batch is ``last``."""
        scaler, optimizer = self.scaler, self.optimizer
        with self.autocast():
            loss = self.cross_entropy(self.net(x), y, label_smoothing=self.smoothing)
        loss = loss / self.accumulate
        (scaler.scale(loss) if scaler else loss).backward()
        if (i + 1) % self.accumulate == 0 or i == last:
            if self.clip:
                if scaler:
                    scaler.unscale_(optimizer)
                self.clip_grad(self.net.parameters(), self.clip)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    def epoch_end(self) -> None:
        if self.scheduler is not None:
            self.scheduler.step()

    def validate(self) -> tuple[float, float]:
        """The epoch's validation pass: mean loss and accuracy over the validation split."""
        import torch

        started = time.perf_counter()
        self.net.eval()
        loss, correct, n = 0.0, 0, 0
        with torch.inference_mode(), self.autocast():
            for x, y in self.val_batches:
                logits = self.net(x)
                loss += float(self.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(-1) == y).sum())
                n += len(y)
        self.net.train()
        self.val_s += time.perf_counter() - started
        return loss / max(n, 1), correct / max(n, 1)


def run_plain(cfg, epochs: int, warmup_epochs: int, cpu_time: bool = False) -> Timing:
    """The plain loop alone, over the same batches as the full path, validating after every
    epoch as the full path does."""
    import torch

    loop = PlainLoop(cfg)
    epoch = 0
    batches = loop._batches("train", shuffle=True, epoch_fn=lambda: epoch)
    clock = StepClock(loop.device, warmup_epochs, cpu_time)
    started = time.perf_counter()
    for epoch in range(epochs):
        last = len(batches) - 1
        for i, (x, y) in enumerate(batches):
            loop.step(x, y, i, last)
            clock.mark(epoch, len(y))
        loop.validate()
        loop.epoch_end()
    if loop.device.type == "cuda":
        torch.cuda.synchronize(loop.device)
    return clock.timing("plain", time.perf_counter() - started)


def run_paired(
    cfg, epochs: int, warmup_epochs: int, cpu_time: bool = False
) -> tuple[Timing, Timing]:
    """Both paths in one run, a step of each in turn: after each of the full path's steps the
    plain loop takes its own step on the same batch. Each full step is timed from the end of
    the plain step before it, so the two figures of a step are milliseconds apart and drift in
    the machine's speed falls on both alike. ``wall_s`` splits the run's wall time between them:
    the plain loop's share is its steps and its validation passes, the rest is the full path's.
    """
    plain_loop = PlainLoop(cfg)  # first: built from the same seed as the full path after it
    clock, wall = fit_timed(cfg, epochs, warmup_epochs, cpu_time, plain_loop)
    plain = clock.timing("plain", 0.0, every=2, offset=3)
    full = clock.timing("full", 0.0, every=2, offset=2)
    plain_all = clock.timing("plain", 0.0, every=2, offset=1, warmup=True).seconds  # every step
    plain_all += plain_loop.val_s
    full.wall_s, plain.wall_s = wall - plain_all, plain_all
    return full, plain


# -- one architecture ------------------------------------------------------------------------


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

    base = compose(overrides)
    check_supported(base)
    # whole epochs, so both paths see exactly the same batches: enough for `steps` timed ones
    data = hydra.utils.instantiate(resolve_for(base, workdir / name / "probe").data)
    data.setup("fit")
    per_epoch = len(data.train_dataloader())
    if per_epoch < 2:
        raise GauntletError(
            f"data.batch_size={data.batch_size}: only {per_epoch} step per epoch; steady state "
            "needs at least 2"
        )
    epochs = warmup_epochs + math.ceil(steps / (per_epoch - 1))
    overrides = [*overrides, f"trainer.max_epochs={epochs}", "trainer.max_steps=-1"]
    base = compose(overrides)

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
            cfg = resolve_for(base, workdir / name / f"round{r}-{path}")
            if paired:
                full, plain = run_paired(strip_to(cfg, path), epochs, warmup_epochs, cpu_time)
                record(path, r, full)
                record(plain_for(path), r, plain)
            elif path == "plain":
                record(path, r, run_plain(cfg, epochs, warmup_epochs, cpu_time))
            else:
                record(path, r, run_full(strip_to(cfg, path), epochs, warmup_epochs, cpu_time))
    shown = [o for o in overrides if not o.startswith("paths.log_dir=")]
    row = summarize(name, shown, base, per_epoch, epochs, results)
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


# -- output ----------------------------------------------------------------------------------

COLUMNS = (
    ("model", "model", "{}"),
    ("data", "data", "{}"),
    ("precision", "precision", "{}"),
    ("compile", "compile", "{}"),
    ("full samples/s", "full_samples_per_s", "{:,.0f}"),
    ("plain samples/s", "plain_samples_per_s", "{:,.0f}"),
    ("ratio", "ratio", "{:.3f}"),
    ("overhead us/step", "overhead_us", "{:+.0f}"),
    ("plain us/step", "plain_step_us", "{:.0f}"),
    ("whole fit x plain", "fit_x", "{:.2f}"),
)


def cells(row: dict[str, Any]) -> list[str]:
    return [fmt.format(row[key]) for _, key, fmt in COLUMNS]


def markdown_table(rows: list[dict[str, Any]], header: bool = True) -> str:
    lines = []
    if header:
        lines.append("| " + " | ".join(title for title, _, _ in COLUMNS) + " |")
        lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 120))
    table = Table(
        title=f"gauntlet bench: full training path vs a plain PyTorch loop ({rows[0]['device']})"
    )
    for title, _, _ in COLUMNS:
        table.add_column(title, justify="left" if title in ("model", "data") else "right")
    for row in rows:
        table.add_row(*cells(row))
    console.print(table)
    for row in rows:
        for part in row.get("breakdown", []):
            print(
                f"{row['model']} breakdown: {LAYERS[part['layer']]}: "
                f"{part['step_us']:.0f} us/step, overhead {part['overhead_us']:+.0f} "
                f"({part['adds_us']:+.0f}); whole fit {part['fit_x']:.2f}x plain"
            )
        low, high = row["overhead_us_range"]
        spread = f"rounds {low:+.0f} to {high:+.0f}"
        if row.get("paired"):
            spread += f"; median of paired steps {row['overhead_us_step_median']:+.0f}"
        print(
            f"{row['model']}: full {row['full_samples_per_s']:,.0f} samples/s, "
            f"plain {row['plain_samples_per_s']:,.0f} samples/s, ratio {row['ratio']:.3f}, "
            f"overhead {row['overhead_us']:+.0f} us/step ({spread}) "
            f"({row['timed_steps']} timed steps of batch {row['batch_size']} x {row['rounds']} "
            f"rounds); whole fit {row['full_wall_s']:.1f} s vs {row['plain_wall_s']:.1f} s, "
            f"{row['fit_x']:.2f}x plain"
        )


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gauntlet bench",
        description="Train each model through gauntlet's full path and through a plain PyTorch "
        "loop (same network, batches, optimizer), alternating; print samples/s of each, the "
        "ratio and the per-step overhead. Other arguments are config overrides, e.g. "
        "trainer.precision=bf16-mixed model.compile=true.",
    )
    parser.add_argument("--models", default="cnn,rnn,transformer", help="comma-separated")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per run, at least")
    parser.add_argument("--rounds", type=int, default=3, help="alternating full/plain rounds")
    parser.add_argument("--warmup-epochs", type=int, default=1, help="untimed first epochs")
    parser.add_argument(
        "--experiment-prefix",
        default=None,
        help="use experiment=PREFIX<model> for each model (e.g. gpu_) instead of the defaults",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time steps by wall clock (default) or by process CPU time (steadier on a shared "
        "CPU; ignored on a GPU)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the full path with its loggers, then its callbacks, switched off: "
        "what Lightning's loop, the callbacks and the loggers each add per step",
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="run both paths in one run, a step of each in turn on the same batch: each step's "
        "two figures are milliseconds apart, so drift in the machine's speed cancels",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--markdown", type=Path, default=None, help="write a Markdown table")
    parser.add_argument("--no-header", action="store_true", help="Markdown rows only")
    parser.add_argument("overrides", nargs="*", help="config overrides (key=value)")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODEL_DEFAULTS]
    if unknown or not args.models:
        raise GauntletError(
            f"--models {unknown or args.models}: choose from {list(MODEL_DEFAULTS)}"
        )
    if args.steps < 1 or args.rounds < 1 or args.warmup_epochs < 0:
        raise GauntletError(
            f"--steps {args.steps} --rounds {args.rounds} --warmup-epochs {args.warmup_epochs}: "
            "expected steps >= 1, rounds >= 1, warm-up epochs >= 0"
        )
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise GauntletError(f"{bad}: expected config overrides of the form key=value")
    return args


def main(argv: list[str] | None = None) -> int:
    import os

    args = parse_args(list(argv or []))
    os.environ.setdefault("WANDB_MODE", "offline")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gauntlet-bench-") as tmp:
        workdir = Path(tmp)
        for name in args.models:
            preset = (
                [f"experiment={args.experiment_prefix}{name}"]
                if args.experiment_prefix
                else MODEL_DEFAULTS[name]
            )
            # runs go to a scratch log dir: the bench leaves no runs on the leaderboard
            overrides = [*preset, *args.overrides, f"paths.log_dir={workdir}"]
            rows.append(
                bench_model(
                    name,
                    overrides,
                    args.steps,
                    args.rounds,
                    args.warmup_epochs,
                    workdir,
                    cpu_time=args.clock == "cpu",
                    breakdown=args.breakdown,
                    paired=args.paired,
                )
            )
    print_table(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"results: {args.json}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_table(rows, header=not args.no_header))
        print(f"table: {args.markdown}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
