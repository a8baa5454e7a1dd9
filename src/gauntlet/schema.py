"""Structured-config schemas: typed shapes for the config groups, registered in Hydra's ConfigStore.

Each option file in ``conf/<group>/`` names its schema first in its defaults list, so a wrong
type (``trainer.max_epochs=abc``) or a misspelt key fails at composition, naming the key.
Groups whose options are open-ended (callbacks, loggers) stay untyped dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# -- data ------------------------------------------------------------------------------------


@dataclass
class DataSchema:
    _target_: str = MISSING
    batch_size: int = 64
    eval_batch_size: int = 512
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0
    fraction: float = 1.0
    samples_per_class: Optional[int] = None
    on_device: bool = True
    seed: int = 0


@dataclass
class MNIST1DSchema(DataSchema):
    generator_seed: int = 42
    num_samples: int = 5000
    iid_noise_scale: float = 2e-2
    corr_noise_scale: float = 0.25
    cache_dir: Optional[str] = None


@dataclass
class VisionSchema(DataSchema):
    dataset: str = MISSING
    root: str = MISSING
    download: bool = True


@dataclass
class ConcatSchema(DataSchema):
    # each entry a datamodule node with its own _target_; their input specs must agree
    datasets: list[Any] = field(default_factory=list)


@dataclass
class TextFileSchema(DataSchema):
    path: str = MISSING
    text_key: str = "text"
    label_key: str = "label"
    max_len: int = 64
    max_vocab: int = 20000
    min_freq: int = 1


# -- model -----------------------------------------------------------------------------------


@dataclass
class OptimizerSchema:
    _target_: str = "torch.optim.AdamW"
    _partial_: bool = True
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class NetSchema:
    _target_: str = MISSING
    hidden: int = 64
    depth: int = 2
    dropout: float = 0.1
    checkpointing: bool = False


@dataclass
class CNNSchema(NetSchema):
    kernel_size: int = 3
    embed_dim: int = 32


@dataclass
class RNNSchema(NetSchema):
    cell: str = "lstm"
    bidirectional: bool = False
    pool: str = "last"
    embed_dim: int = 32


@dataclass
class TransformerSchema(NetSchema):
    heads: int = 4
    mlp_ratio: float = 2.0
    patch_size: int = 2
    positions: str = "learned"
    pool: str = "cls"
    stem: str = "patch"
    stem_kernel: int = 5


@dataclass
class MixSchema:
    alpha: float = 0.0  # Beta(alpha, alpha) mixing share; 0 = off


@dataclass
class AdversarialSchema:
    # null = off; fgsm or pgd replaces `ratio` of each batch by adversarial examples
    attack: Optional[str] = None
    eps: float = 0.1
    ratio: float = 0.5
    steps: int = 3


@dataclass
class ModelSchema:
    _target_: str = "gauntlet.models.module.ClassifierModule"
    net: Any = MISSING
    optimizer: OptimizerSchema = field(default_factory=OptimizerSchema)
    scheduler: Any = None
    label_smoothing: float = 0.0
    compile: bool = False
    mixing: Any = None
    adversarial: AdversarialSchema = field(default_factory=AdversarialSchema)
    mixup: MixSchema = field(default_factory=MixSchema)
    cutmix: MixSchema = field(default_factory=MixSchema)


@dataclass
class CNNModelSchema(ModelSchema):
    net: CNNSchema = field(default_factory=CNNSchema)


@dataclass
class RNNModelSchema(ModelSchema):
    net: RNNSchema = field(default_factory=RNNSchema)


@dataclass
class TransformerModelSchema(ModelSchema):
    net: TransformerSchema = field(default_factory=TransformerSchema)


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
    log_every_n_steps: int = 50
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
class TrainSchema:
    task_name: str = "train"
    experiment_name: str = "default"
    study: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    seed: int = 42
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


SCHEMAS = {
    ("schema/data", "base"): DataSchema,
    ("schema/data", "mnist1d"): MNIST1DSchema,
    ("schema/data", "vision"): VisionSchema,
    ("schema/data", "text_file"): TextFileSchema,
    ("schema/data", "concat"): ConcatSchema,
    ("schema/model", "cnn"): CNNModelSchema,
    ("schema/model", "rnn"): RNNModelSchema,
    ("schema/model", "transformer"): TransformerModelSchema,
    ("schema/trainer", "base"): TrainerSchema,
}


def register_schemas() -> None:
    cs = ConfigStore.instance()
    for (group, name), node in SCHEMAS.items():
        cs.store(group=group, name=name, node=node)
    cs.store(name="train_schema", node=TrainSchema)
