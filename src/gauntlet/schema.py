"""Structured-config schemas: typed shapes for the config groups, registered in Hydra's ConfigStore.

Each option file in ``conf/<group>/`` names its schema first in its defaults list, so a wrong
type (``trainer.max_epochs=abc``) or a misspelt key fails at composition, naming the key.
Groups whose options are open-ended (callbacks, loggers) stay untyped dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING

# -- data ------------------------------------------------------------------------------------


# A default is written once: where a value is MISSING here, each data file sets it; the others
# are the same for every dataset and live only here.


@dataclass
class DataSchema:
    _target_: str = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = 512
    val_fraction: float = MISSING
    test_fraction: float = 0.2
    split_seed: int = II("seeds.split")  # seeds.split: 0 unless set
    fraction: float = 1.0
    samples_per_class: Optional[int] = None
    on_device: bool = True
    seed: int = MISSING


@dataclass
class MNIST1DSchema(DataSchema):
    generator_seed: int = MISSING
    num_samples: int = 5000
    iid_noise_scale: float = 2e-2
    corr_noise_scale: float = 0.25
    cache_dir: Optional[str] = MISSING


@dataclass
class ListOpsSchema(DataSchema):
    max_length: int = 128
    min_length: int = 16
    max_depth: int = 6
    max_args: int = 5
    leaf_prob: float = 0.5
    num_train: int = 10000
    num_val: int = 1000
    num_test: int = 2000
    generator_seed: int = 0
    cache_dir: Optional[str] = MISSING


@dataclass
class VisionSchema(DataSchema):
    dataset: str = MISSING
    root: str = MISSING
    download: bool = False


@dataclass
class ArraysSchema(DataSchema):
    path: str = MISSING
    labels: Optional[str] = MISSING
    # null: read from the arrays' shape and dtype; image, sequence or tokens forces it
    modality: Optional[str] = MISSING
    vocab_size: Optional[int] = MISSING
    pad_id: int = MISSING
    class_names: Optional[list[str]] = MISSING


@dataclass
class ConcatSchema(DataSchema):
    # each entry a datamodule node with its own _target_; their input specs must agree
    datasets: list[Any] = MISSING


@dataclass
class FormerTextKeys:
    """Former spellings of text keys, still read (see RENAMED_KEYS); null unless given."""

    max_len: Optional[int] = None
    text_key: Optional[str] = None
    label_key: Optional[str] = None


@dataclass
class TextFileSchema(FormerTextKeys, DataSchema):
    path: str = MISSING
    text_column: str = "text"
    label_column: str = "label"
    max_length: int = MISSING
    tokenizer: str = "word"
    max_vocab: int = 20000
    min_freq: int = 1
    padding_side: str = "right"


@dataclass
class HFSchema(FormerTextKeys, DataSchema):
    path: Optional[str] = None
    name: Optional[str] = None
    config: Optional[str] = None
    text_column: str = "text"
    label_column: str = "label"
    train_split: str = "train"
    val_split: Optional[str] = None
    test_split: Optional[str] = None
    max_length: int = 64
    tokenizer: str = "word"
    max_vocab: int = 20000
    min_freq: int = 1
    # image datasets (an image column, no text column): decoded as data=image_folder decodes
    image_column: str = "image"
    size: Optional[int] = None
    channels: Optional[int] = None
    on_bad_file: str = "refuse"
    # auto: one tensor per split when the encoded set fits under cache_limit_mb, else batches
    # gathered from the memory-mapped Arrow tables (cache=arrow)
    cache: str = "auto"
    cache_limit_mb: int = 2048
    # processes for Dataset.map's tokenizing; DataLoader workers gathering (decoding) batches
    num_proc: int = 1
    num_workers: int = 0
    padding_side: str = "right"


@dataclass
class ImageFolderSchema(DataSchema):
    root: str = MISSING
    # null: keep each image's own size (all must agree); N: resize and centre-crop to N x N
    size: Optional[int] = None
    # null: read from the images (all must agree); 1 greyscale, 3 RGB converts every image
    channels: Optional[int] = None
    # null: the sorted class folder names; a list fixes the class -> index map
    classes: Optional[list[str]] = None
    on_bad_file: str = "refuse"
    # auto: memory when the decoded set fits under cache_limit_mb, else stream
    cache: str = "auto"
    cache_limit_mb: int = 2048
    num_workers: int = 0
    pin_memory: bool = True


@dataclass
class ShardsSchema(DataSchema):
    path: str = MISSING
    num_workers: int = 0
    pin_memory: bool = True
    # explain, attack, eval's test_x/test_y: a seeded sample of the test split of this size
    eval_sample: int = 1024
    # fsspec options for a remote path (s3://, gs://, ...), passed to fsspec.open
    storage_options: Optional[dict[str, Any]] = None


# -- model -----------------------------------------------------------------------------------
# Defaults are written once, in conf/model/*.yaml; here every value is MISSING and only the
# types and the keys are given. The optimizer and scheduler stay open (any torch class, each
# with its own arguments, checked against its signature when the module is built), and so does
# a user's own network; gauntlet's three networks are typed, so `model.net.hiden=8` fails.


@dataclass
class NetSchema:
    _target_: str = MISSING
    hidden: int = MISSING
    depth: int = MISSING
    dropout: float = MISSING
    checkpointing: bool = MISSING


@dataclass
class CNNSchema(NetSchema):
    kernel_size: int = MISSING
    embed_dim: int = MISSING


@dataclass
class RNNSchema(NetSchema):
    cell: str = MISSING
    bidirectional: bool = MISSING
    pool: str = MISSING
    embed_dim: int = MISSING


@dataclass
class TransformerSchema(NetSchema):
    heads: int = MISSING
    mlp_ratio: float = MISSING
    patch_size: int = MISSING
    positions: str = MISSING
    pool: str = MISSING
    stem: str = MISSING
    stem_kernel: int = MISSING


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
    ("schema/data", "base"): DataSchema,
    ("schema/data", "mnist1d"): MNIST1DSchema,
    ("schema/data", "listops"): ListOpsSchema,
    ("schema/data", "vision"): VisionSchema,
    ("schema/data", "text_file"): TextFileSchema,
    ("schema/data", "hf"): HFSchema,
    ("schema/data", "concat"): ConcatSchema,
    ("schema/data", "arrays"): ArraysSchema,
    ("schema/data", "image_folder"): ImageFolderSchema,
    ("schema/data", "shards"): ShardsSchema,
    ("schema/model", "base"): ModelSchema,
    ("schema/net", "cnn"): CNNSchema,
    ("schema/net", "rnn"): RNNSchema,
    ("schema/net", "transformer"): TransformerSchema,
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
    if pattern not in _SHOWN_DIRS:  # one time stamp for every key that shows it
        paths = _root_.get("paths") if _root_ is not None else None
        _SHOWN_DIRS[pattern] = str(OmegaConf.create({"paths": paths or {}, "dir": pattern}).dir)
    return _SHOWN_DIRS[pattern]


_SHOWN_DIRS: dict[str, str] = {}


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
    for (group, name), node in SCHEMAS.items():
        cs.store(group=group, name=name, node=node)
    cs.store(name="train_schema", node=TrainSchema)


# -- value ranges ----------------------------------------------------------------------------
# Types are checked when Hydra composes; ranges here, before anything is built. Each entry is
# the key, the test a value must pass, and what the key accepts (the message says it).


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
SEED_MAX = 2**32 - 1  # numpy's seed range, which seed_everything passes it to

RANGES: tuple[tuple[str, Any, str], ...] = (
    ("seed", lambda v: isinstance(v, int) and 0 <= v <= SEED_MAX, f"a whole number 0..{SEED_MAX}"),
    ("data.batch_size", _int_at_least(1), "a whole number >= 1"),
    ("data.eval_batch_size", _int_at_least(1), "a whole number >= 1"),
    ("data.val_fraction", _fraction, "a fraction in [0, 1)"),
    ("data.test_fraction", _fraction, "a fraction in [0, 1)"),
    ("data.fraction", lambda v: 0.0 < v <= 1.0, "a fraction in (0, 1]"),
    ("data.samples_per_class", lambda v: v is None or v >= 1, "a whole number >= 1, or null"),
    ("data.split_seed", lambda v: 0 <= v <= SEED_MAX, f"a whole number 0..{SEED_MAX}"),
    *(
        (f"seeds.{source}", lambda v: 0 <= v <= SEED_MAX, f"a whole number 0..{SEED_MAX}")
        for source in ("split", "init", "order", "augment")
    ),
    ("data.num_samples", _int_at_least(1), "a whole number >= 1"),
    ("data.max_length", _int_at_least(1), "a whole number >= 1"),
    ("data.max_vocab", _int_at_least(2), "a whole number >= 2"),
    ("data.min_freq", _int_at_least(1), "a whole number >= 1"),
    ("model.label_smoothing", _fraction, "a fraction in [0, 1)"),
    ("model.net.dropout", _fraction, "a fraction in [0, 1)"),
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
    data = cfg.get("data") or {}
    val, test = data.get("val_fraction"), data.get("test_fraction")
    if isinstance(val, (int, float)) and isinstance(test, (int, float)) and val + test >= 1:
        raise GauntletError(
            f"data.val_fraction={val} + data.test_fraction={test} = {val + test:g} leaves no "
            "training data; their sum must be below 1 (e.g. 0.1 and 0.2)"
        )
    _check_devices(cfg)


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
