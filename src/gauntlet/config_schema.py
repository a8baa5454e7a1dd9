"""The run config's schemas: typed shapes for the config groups, registered in Hydra's ConfigStore.

Each option file in ``conf/<group>/`` names its schema first in its defaults list, so a wrong
type (``trainer.max_epochs=abc``) or a misspelt key fails at composition, naming the key.
The network and datamodule schemas are made from their constructors' signatures
(:mod:`gauntlet.settings`): the signature holds each setting's type, default and range, the
YAML presets only what they change. The model's shared settings, the trainer and the primary
config are written here, with the ranges of their values (``RANGES``).
Groups whose options are open-ended (callbacks, loggers) stay untyped dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING

from gauntlet.settings import SEED_MAX, schema_of, settings_in_source

# -- data and networks ----------------------------------------------------------------------
# The classes whose signatures give the ``data`` and ``model.net`` options their schemas, by
# the name a config file gives in its defaults list (``/schema/net@net: cnn``).

NETWORKS = {
    "cnn": "gauntlet.models.cnn.CNN",
    "rnn": "gauntlet.models.rnn.RNN",
    "transformer": "gauntlet.models.transformer.Transformer",
}
DATAMODULES = {
    "base": "gauntlet.data.base.InMemoryDataModule",
    "mnist1d": "gauntlet.data.mnist1d.MNIST1DDataModule",
    "listops": "gauntlet.data.listops.ListOpsDataModule",
    "vision": "gauntlet.data.vision.VisionDataModule",
    "text_file": "gauntlet.data.text.TextFileDataModule",
    "hf": "gauntlet.data.hf.HFDataModule",
    "concat": "gauntlet.data.concat.ConcatDataModule",
    "arrays": "gauntlet.data.arrays.ArraysDataModule",
    "image_folder": "gauntlet.data.image_folder.ImageFolderDataModule",
    "shards": "gauntlet.data.shards.ShardsDataModule",
}
# where a datamodule setting follows another key of the run's config unless set
DATA_WIRING = {
    "split_seed": II("seeds.split"),  # seeds.split: 0 unless set
    "seed": II("seeds.order"),  # the batches' order
    "cache_dir": II("paths.cache_dir"),
}


# the options whose keys had other spellings (RENAMED_KEYS): their schemas still take them
FORMER_SPELLINGS = ("text_file", "hf")


def data_schema(target: str, former: bool = False) -> type:
    """A datamodule's schema, with its wiring and (``former``) the former spellings of its
    keys, null unless given."""
    declared = settings_in_source(target)
    wired = {k: v for k, v in DATA_WIRING.items() if k in declared}
    extra = {old.rpartition(".")[2]: (Any, None) for old in RENAMED_KEYS} if former else {}
    return schema_of(target, defaults=wired, extra=extra)


def generated_schemas() -> dict[tuple[str, str], type]:
    """The network and datamodule schemas, read from their classes' source (nothing imported)."""
    made = {("schema/net", n): schema_of(t) for n, t in NETWORKS.items()}
    for name, target in DATAMODULES.items():
        made[("schema/data", name)] = data_schema(target, former=name in FORMER_SPELLINGS)
    return made


# -- model -----------------------------------------------------------------------------------
# The optimizer and scheduler stay open (any torch class, each with its own arguments, checked
# against its signature when the module is built), and so does a user's own network.


@dataclass
class MixSchema:
    alpha: float = MISSING  # Beta(alpha, alpha) mixing share; 0 = off


@dataclass
class AdversarialSchema:
    # null = off; fgsm or pgd replaces `ratio` of each batch by adversarial examples
    attack: Optional[str] = MISSING
    eps: float = MISSING
    ratio: float = MISSING
    steps: int = MISSING


@dataclass
class ModelSchema:
    _target_: str = MISSING
    net: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    scheduler_interval: Optional[str] = MISSING
    label_smoothing: float = MISSING
    compile: bool = MISSING
    adversarial: AdversarialSchema = field(default_factory=AdversarialSchema)
    mixup: MixSchema = field(default_factory=MixSchema)
    cutmix: MixSchema = field(default_factory=MixSchema)


# -- trainer ---------------------------------------------------------------------------------


@dataclass
class TrainerSchema:
    _target_: str = "pytorch_lightning.Trainer"
    default_root_dir: str = "${paths.output_dir}"
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: Any = "auto"
    precision: Any = "32-true"
    min_epochs: int = 1
    max_epochs: int = 10
    max_steps: int = -1
    max_time: Optional[str] = None
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    val_check_interval: Any = None
    check_val_every_n_epoch: int = 1
    num_sanity_val_steps: int = 0
    # null: metrics per epoch only; N: also train/loss_step every N steps
    log_every_n_steps: Optional[int] = None
    accumulate_grad_batches: int = 1
    gradient_clip_val: Optional[float] = None
    gradient_clip_algorithm: str = "norm"
    deterministic: Any = False
    benchmark: Optional[bool] = None
    enable_progress_bar: bool = True
    enable_model_summary: bool = False
    enable_checkpointing: bool = True
    overfit_batches: float = 0.0
    fast_dev_run: Any = False
    profiler: Optional[str] = None
    detect_anomaly: bool = False
    sync_batchnorm: bool = False
    use_distributed_sampler: bool = False
    inference_mode: bool = True


# -- the primary config ----------------------------------------------------------------------


@dataclass
class SeedsSchema:
    """Where a run's randomness comes from (Bouthillier et al. 2021). Each source follows
    ``seed`` (the split its fixed 0) unless set, so one ``seed=`` still sets them all."""

    split: int = 0  # the data split: data.split_seed follows it
    init: int = II("seed")  # the network's initial weights
    order: int = II("seed")  # the training batches' order: data.seed follows it
    augment: int = II("seed")  # augmentation, mixup and dropout during training


@dataclass
class TrainSchema:
    task_name: str = "train"
    experiment_name: str = "default"
    study: Optional[str] = None
    # the sweep's name on the leaderboard and in W&B (default: the experiment and start time)
    sweep: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    seed: int = 42
    seeds: SeedsSchema = field(default_factory=SeedsSchema)
    trial: Optional[int] = None  # the Optuna trial a replicate run belongs to
    train: bool = True
    test: bool = True
    ckpt_path: Optional[str] = None
    resume: Optional[str] = None
    optimized_metric: str = "val/acc_best"
    data: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    logger: Any = None
    callbacks: Any = None
    paths: Any = MISSING
    leaderboard: Any = None
    augment: Any = None
    synthesize: Any = None
    robust: Any = None
    extras: Any = None
    # a launcher preset's own settings (launcher=gpu_pool: gpus, jobs_per_gpu)
    launcher: Any = None


SCHEMAS = {
    ("schema/model", "base"): ModelSchema,
    ("schema/trainer", "base"): TrainerSchema,
}


def output_dir(*, _root_: Any) -> str | None:
    """``paths.output_dir``: the job's directory once Hydra made it; before that (``--cfg job
    --resolve`` shows a config without running it) the directory the run would get now."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if not OmegaConf.is_missing(hc.runtime, "output_dir") and hc.runtime.output_dir:
        return str(hc.runtime.output_dir)
    pattern = OmegaConf.to_container(hc.run, resolve=False).get("dir")
    if pattern is None:
        return None
    paths = _root_.get("paths") if _root_ is not None else None
    # one time stamp for every key that shows it; a config with other paths (another
    # composition in the same process) gets its own
    key = (pattern, str(OmegaConf.to_container(paths, resolve=False)) if paths else "")
    if key not in _SHOWN_DIRS:
        _SHOWN_DIRS[key] = str(OmegaConf.create({"paths": paths or {}, "dir": pattern}).dir)
    return _SHOWN_DIRS[key]


_SHOWN_DIRS: dict[tuple[str, str], str] = {}


def evaluated_run_dir(ckpt_path: Any) -> str:
    """``gauntlet eval``'s directory: beside the run it evaluates, as ``explain/`` and
    ``attack``'s results are (``RUN/checkpoints/best.ckpt`` -> ``RUN/eval``)."""
    from pathlib import Path

    from gauntlet.errors import GauntletError

    path = Path(str(ckpt_path)).expanduser()
    if not path.is_file():
        raise GauntletError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return str(run_dir_of_checkpoint(path) / "eval")


def run_dir_of_checkpoint(path: Any) -> Any:
    """The run a checkpoint belongs to: ``RUN`` for ``RUN/checkpoints/x.ckpt``, else its folder."""
    from pathlib import Path

    folder = Path(path).resolve().parent
    return folder.parent if folder.name == "checkpoints" else folder


def register_schemas() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("gauntlet.output_dir"):
        OmegaConf.register_new_resolver("gauntlet.output_dir", output_dir)
    if not OmegaConf.has_resolver("gauntlet.evaluated_run_dir"):
        OmegaConf.register_new_resolver("gauntlet.evaluated_run_dir", evaluated_run_dir)
    cs = ConfigStore.instance()
    for (group, name), node in {**SCHEMAS, **generated_schemas()}.items():
        cs.store(group=group, name=name, node=node)
    cs.store(name="train_schema", node=TrainSchema)


# -- value ranges ----------------------------------------------------------------------------
# Types are checked when Hydra composes; ranges before anything is built: a network's,
# datamodule's or augmentation's from its signature (``check_components``), the others' here.
# Each entry is the key, the test a value must pass, and what the key accepts.


def _int_at_least(low: int) -> Any:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _fraction(v: Any) -> bool:
    return isinstance(v, (int, float)) and 0.0 <= v < 1.0


def _limit(v: Any) -> bool:
    # Lightning: a float share of the batches in [0, 1], or a whole count >= 0
    if v is None:
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v >= 0
    return isinstance(v, float) and 0.0 <= v <= 1.0


PRECISIONS = (
    "64-true", "64", 64, "32-true", "32", 32, "16-mixed", "16", 16, "bf16-mixed", "bf16",
    "16-true", "bf16-true", "transformer-engine", "transformer-engine-float16",
)  # fmt: skip
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")

RANGES: tuple[tuple[str, Any, str], ...] = (
    ("seed", lambda v: isinstance(v, int) and 0 <= v <= SEED_MAX, f"a whole number 0..{SEED_MAX}"),
    *(
        (f"seeds.{source}", lambda v: 0 <= v <= SEED_MAX, f"a whole number 0..{SEED_MAX}")
        for source in ("split", "init", "order", "augment")
    ),
    ("model.label_smoothing", _fraction, "a fraction in [0, 1)"),
    (
        "trainer.max_epochs",
        lambda v: v is None or v == -1 or v >= 1,
        "a whole number >= 1 (or -1, no limit, with trainer.max_steps or trainer.max_time)",
    ),
    ("trainer.min_epochs", lambda v: v is None or v >= 0, "a whole number >= 0"),
    ("trainer.max_steps", lambda v: v == -1 or v >= 1, "-1 (no limit) or a whole number >= 1"),
    (
        "trainer.devices",
        lambda v: v in ("auto", -1) or _int_at_least(1)(v) or isinstance(v, (list, str)),
        "a count >= 1, a list of ids, or auto",
    ),
    ("trainer.num_nodes", _int_at_least(1), "a whole number >= 1"),
    ("trainer.accelerator", lambda v: str(v) in ACCELERATORS, ", ".join(ACCELERATORS)),
    ("trainer.precision", lambda v: v in PRECISIONS, ", ".join(map(str, PRECISIONS[::3]))),
    ("trainer.accumulate_grad_batches", _int_at_least(1), "a whole number >= 1"),
    ("trainer.check_val_every_n_epoch", lambda v: v is None or v >= 1, "a whole number >= 1"),
    (
        "trainer.log_every_n_steps",
        lambda v: v is None or _int_at_least(1)(v),
        "a whole number >= 1, or null (per epoch only)",
    ),
    ("trainer.gradient_clip_val", lambda v: v is None or v >= 0, "a number >= 0, or null"),
    ("trainer.gradient_clip_algorithm", lambda v: v in ("norm", "value"), "norm or value"),
    (
        "trainer.limit_train_batches",
        lambda v: _limit(v) and v != 0,
        "a share in (0, 1] or a count >= 1",
    ),
    ("trainer.limit_val_batches", _limit, "a share in [0, 1] or a count >= 0"),
    (
        "trainer.limit_test_batches",
        lambda v: _limit(v) and v != 0,
        "a share in (0, 1] or a count >= 1",
    ),
    ("trainer.num_sanity_val_steps", lambda v: v == -1 or v >= 0, "-1 (all) or a count >= 0"),
)


# One concept, one key: former spellings still read, with a deprecation warning, and moved to
# the key that names the concept everywhere (data.max_length as ListOps has it; text_column and
# label_column as the Hugging Face datamodule has them).
RENAMED_KEYS = {
    "data.max_len": "data.max_length",
    "data.text_key": "data.text_column",
    "data.label_key": "data.label_column",
}


def rename_former_keys(cfg: Any) -> None:
    """Move each former key's value (when given) to its new key and drop the former key, so the
    run's config, manifest and identity hold one spelling."""
    import logging

    from omegaconf import OmegaConf, open_dict

    for old, new in RENAMED_KEYS.items():
        parent_key, leaf = old.rsplit(".", 1)
        parent = OmegaConf.select(cfg, parent_key, default=None)
        if parent is None or leaf not in parent:
            continue
        value = parent[leaf]
        with open_dict(parent):
            del parent[leaf]
        if value is None:
            continue
        logging.getLogger(__name__).warning(
            "%s is deprecated: it is now %s (set to %s here)", old, new, value
        )
        with open_dict(cfg):
            OmegaConf.update(cfg, new, value, merge=False)


def _duration(v: Any) -> bool:
    # Lightning's max_time as a string: "DD:HH:MM:SS"
    if v is None:
        return True
    parts = str(v).split(":")
    return len(parts) == 4 and all(p.isdigit() for p in parts) and any(int(p) for p in parts)


def _val_check_interval(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return 0.0 < v <= 1.0
    return _int_at_least(1)(v)


def _strategy(v: Any) -> bool:
    if not isinstance(v, str) or v == "auto":
        return True  # an object built from a _target_ is checked when it is built
    from pytorch_lightning.strategies import StrategyRegistry

    return v in StrategyRegistry.available_strategies()


PROFILERS = ("simple", "advanced", "pytorch", "xla", "passthrough")

# the Trainer's other arguments, by their documented domains (``pytorch_lightning.Trainer``);
# every field of TrainerSchema is a boolean (typed) or has an entry in RANGES: a test holds it
TRAINER_RANGES: tuple[tuple[str, Any, str], ...] = (
    (
        "trainer.val_check_interval",
        _val_check_interval,
        "a share of an epoch in (0, 1], a number of training batches >= 1, or null",
    ),
    ("trainer.max_time", _duration, "DD:HH:MM:SS (e.g. 00:01:00:00), or null"),
    ("trainer.overfit_batches", _limit, "a share in [0, 1] or a count >= 0"),
    (
        "trainer.fast_dev_run",
        lambda v: isinstance(v, bool) or _int_at_least(0)(v),
        "true, false or a number of batches >= 0",
    ),
    ("trainer.deterministic", lambda v: v in (True, False, "warn"), "true, false or warn"),
    ("trainer.profiler", lambda v: v is None or v in PROFILERS, ", ".join(PROFILERS) + " or null"),
    ("trainer.strategy", _strategy, "auto, ddp, ddp_spawn, fsdp, ... (Lightning's strategies)"),
    ("trainer.default_root_dir", lambda v: isinstance(v, str) and v != "", "a directory"),
)
RANGES = RANGES + TRAINER_RANGES


def _check_training_ends(cfg: Any) -> None:
    """``trainer.max_epochs=-1`` means no epoch limit: refused unless steps or time bound it."""
    from omegaconf import OmegaConf

    from gauntlet.errors import GauntletError

    trainer = cfg.get("trainer") or {}
    if OmegaConf.select(cfg, "trainer.max_epochs", default=None) != -1:
        return
    if (trainer.get("max_steps") or -1) == -1 and not trainer.get("max_time"):
        raise GauntletError(
            "trainer.max_epochs=-1: with no trainer.max_steps and no trainer.max_time the run "
            "would train for ever; give a number of epochs >= 1, or bound it with "
            "trainer.max_steps=N or trainer.max_time=DD:HH:MM:SS"
        )
    import logging

    logging.getLogger(__name__).warning(
        "trainer.max_epochs=-1: no epoch limit; the run stops at trainer.max_steps=%s or "
        "trainer.max_time=%s",
        trainer.get("max_steps"),
        trainer.get("max_time"),
    )


def validate(cfg: Any) -> None:
    """Refuse a value outside its range, naming the key and what it accepts."""
    from omegaconf import OmegaConf

    from gauntlet.errors import GauntletError

    missing = [k for k in OmegaConf.missing_keys(cfg) if not k.startswith("hydra.")]
    if missing:
        raise GauntletError(
            f"{missing[0]} has no value (??? in its config file); give it one on the command "
            f"line ({missing[0]}=...) or in the config"
            + (f"; also without a value: {', '.join(missing[1:])}" if missing[1:] else "")
        )
    for key, ok, accepts in RANGES:
        value = OmegaConf.select(cfg, key, default=None)
        if value is None and key not in ("seed",):
            continue
        try:
            valid = bool(ok(value))
        except TypeError:
            valid = False
        if not valid or (isinstance(value, float) and value != value):  # NaN
            raise GauntletError(f"{key}={value}: expected {accepts}")
    _check_training_ends(cfg)
    check_components(cfg)
    _check_devices(cfg)


# the config nodes built from a _target_ whose signature declares their settings' ranges
COMPONENTS = ("data", "model.net", "augment")


def check_components(cfg: Any) -> None:
    """Each component's settings against its class's annotations, before anything is built."""
    from omegaconf import OmegaConf

    for key in COMPONENTS:
        node = OmegaConf.select(cfg, key, default=None)
        if node is not None:
            check_component(node, key)


def check_component(node: Any, key: str) -> None:
    """``node`` (a ``_target_`` and its settings) against the target's signature, and each
    component nested in it (``data.datasets.0``) under its own full key."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    from gauntlet.settings import check_settings

    if isinstance(node, DictConfig) and node.get("_target_"):
        target = _located(str(node._target_))
        if target is not None:
            check_settings(target, node, key)
    names = list(node) if isinstance(node, DictConfig) else range(len(node))
    for name in names:
        if OmegaConf.is_missing(node, name):
            continue
        child = node[name]
        if isinstance(child, (DictConfig, ListConfig)):
            check_component(child, f"{key}.{name}")


def _located(target: str) -> Any:
    from hydra.utils import get_object

    try:
        return get_object(target)
    except Exception:  # not importable: building it reports that, naming the key
        return None


def _check_devices(cfg: Any) -> None:
    """A GPU asked for where none exists: say so before Lightning's traceback would."""
    from gauntlet.errors import GauntletError

    trainer = cfg.get("trainer") or {}
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator not in ("gpu", "cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        strategy = trainer.get("strategy", "auto")
        raise GauntletError(
            f"trainer.accelerator={accelerator} (strategy {strategy}): this machine has no "
            "usable CUDA GPU; use trainer=default (accelerator auto picks the CPU here), or "
            "trainer=ddp_cpu for DDP on CPU processes"
        )
