"""Limited compute: every lever composes and trains; throughput reaches the manifest; DDP steps."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys

import hydra
import pytest
import torch

from gauntlet.errors import GauntletError
from helpers import REPO, compose, strip_hydra

PERF = (
    "perf/samples_per_s",
    "perf/step_ms",
    "perf/peak_mem_mb",
    "perf/epoch_s",
    "perf/effective_batch_size",
)


def assert_trained(manifest: dict) -> dict:
    assert manifest["status"] == "completed", manifest.get("error")
    metrics = manifest["metrics"]
    assert math.isfinite(metrics["train/loss"])
    return metrics


@pytest.mark.parametrize(
    ("overrides", "precision"),
    [
        (["trainer.precision=32-true"], "32-true"),
        (["trainer.precision=bf16-mixed"], "bf16-mixed"),
        # no fp16 autocast on a CPU: Lightning runs bf16-mixed and says so
        (["trainer.precision=16-mixed"], "16-mixed"),
    ],
)
def test_precision_trains_and_is_recorded(train, overrides, precision):
    manifest, _ = train(*overrides)
    assert_trained(manifest)
    assert manifest["config"]["trainer"]["precision"] == precision


def test_bf16_mixed_really_runs_the_network_in_bfloat16(tmp_path):
    import pytorch_lightning as pl

    from gauntlet.train import build
    from helpers import strip_hydra

    cfg = compose(
        [f"paths.log_dir={tmp_path}", "trainer.precision=bf16-mixed", "logger=none"],
        run_dir=tmp_path / "run",
    )
    datamodule, module, trainer = build(strip_hydra(cfg))
    seen: list[torch.dtype] = []
    module.net.head.register_forward_hook(lambda m, i, out: seen.append(out.dtype))

    class StopAfterOne(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            trainer.should_stop = True

    trainer.callbacks.append(StopAfterOne())
    trainer.fit(module, datamodule=datamodule)
    assert seen and seen[0] == torch.bfloat16


def test_accumulation_sets_the_effective_batch_size(train):
    manifest, _ = train("trainer.accumulate_grad_batches=3", "data.batch_size=32")
    metrics = assert_trained(manifest)
    assert metrics["perf/effective_batch_size"] == 32 * 3


@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_activation_checkpointing_trains(train, model):
    manifest, _ = train(f"model={model}", "model.net.checkpointing=true")
    assert_trained(manifest)
    assert manifest["config"]["model"]["net"]["checkpointing"] is True


def test_activation_checkpointing_gives_the_same_gradients(tmp_path):
    """Recomputing the blocks in the backward pass must not change what is learnt."""
    import hydra

    from helpers import strip_hydra

    grads = []
    for flag in ("false", "true"):
        cfg = strip_hydra(
            compose(
                [
                    f"paths.log_dir={tmp_path}",
                    "model=transformer",
                    "model.net.dropout=0.0",
                    f"model.net.checkpointing={flag}",
                ],
                run_dir=tmp_path / flag,
            )
        )
        data = hydra.utils.instantiate(cfg.data)
        data.setup("fit")
        torch.manual_seed(0)
        net = hydra.utils.instantiate(cfg.model.net, spec=data.spec).train()
        x, y = data.splits["train"].x[:16], data.splits["train"].y[:16]
        torch.nn.functional.cross_entropy(net(x), y).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


TINY_CNN = ["model=cnn", "model.net.hidden=8", "model.net.depth=1", "trainer.limit_val_batches=1"]


@pytest.mark.slow
def test_compile_compiles_the_network_and_trains(train, caplog):
    # a one-block CNN: about two minutes to compile on a busy 2-core CPU, the defaults take longer
    with caplog.at_level(logging.INFO, logger="gauntlet.models.compile"):
        manifest, run_dir = train(*TINY_CNN, "model.compile=true")
    assert_trained(manifest)
    assert "model.compile=true: CNN compiled in" in caplog.text
    assert "eager" not in caplog.text
    # the checkpoint keeps the plain network's keys, so eval loads it without compile
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert "net.blocks.0.body.0.weight" in state


def test_compile_says_when_nothing_compiles(train, caplog):
    # Dynamo does not trace the LSTM: it skips the whole function, and the user is told
    with caplog.at_level(logging.INFO, logger="gauntlet.models.compile"):
        manifest, _ = train("model=rnn", "model.compile=true")
    assert_trained(manifest)
    assert "torch.compile captured no graph of RNN; eager" in caplog.text


def test_compile_falls_back_to_eager_with_a_message(train, caplog, tmp_path, monkeypatch):
    import torch._inductor.config as inductor_config

    torch._dynamo.reset()
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # nothing built yet
    # no C++ compiler: the CPU backend cannot build its kernels
    with (
        inductor_config.patch({"cpp.cxx": ("/nonexistent/c++",), "fx_graph_cache": False}),
        caplog.at_level(logging.WARNING, logger="gauntlet.models.compile"),
    ):
        manifest, _ = train(*TINY_CNN, "model.compile=true")
    torch._dynamo.reset()
    assert_trained(manifest)
    assert "model.compile=true: compiling CNN failed (InductorError" in caplog.text
    assert "running eager" in caplog.text


def test_throughput_metrics_reach_the_manifest_and_the_csv(train):
    manifest, run_dir = train("trainer.limit_train_batches=8", "data.batch_size=32")
    metrics = assert_trained(manifest)
    for key in PERF:
        assert key in metrics, sorted(metrics)
    assert metrics["perf/samples_per_s"] > 0
    assert metrics["perf/step_ms"] > 0
    # batch over step time and samples/s measure the same steps (median vs total)
    assert 0.2 < metrics["perf/samples_per_s"] * metrics["perf/step_ms"] / 1000 / 32 < 5
    assert metrics["perf/epoch_s"] * 1000 > metrics["perf/step_ms"] * 5
    assert metrics["perf/peak_mem_mb"] > 50  # a process with torch loaded, on the CPU: RSS
    assert metrics["perf/effective_batch_size"] == 32
    # the first step comes after the process started and after its imports
    assert metrics["perf/startup_s"] > metrics["perf/epoch_s"] > 0
    assert metrics["perf/startup_cpu_s"] > 0
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "perf/samples_per_s" in header


def test_devices_and_nodes_levers_compose(tmp_path):
    cfg = compose(["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"])
    assert (cfg.trainer.strategy, cfg.trainer.devices, cfg.trainer.num_nodes) == ("ddp", 4, 2)
    assert cfg.trainer.accelerator == "gpu"
    cfg = compose(["trainer=fsdp"])
    assert cfg.trainer.strategy._target_.endswith("FSDPStrategy")
    cfg = compose(["trainer=ddp_cpu"])
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.devices == 2
    assert cfg.trainer.strategy.process_group_backend == "gloo"


def test_ddp_preset_builds_a_ddp_trainer_on_cpu(tmp_path):
    from gauntlet.train import build
    from helpers import strip_hydra

    cfg = compose(
        [f"paths.log_dir={tmp_path}", "trainer=ddp", "trainer.accelerator=cpu", "logger=none"],
        run_dir=tmp_path / "run",
    )
    _, _, trainer = build(strip_hydra(cfg))
    assert type(trainer.strategy).__name__ == "DDPStrategy"
    assert trainer.world_size == 2


@pytest.mark.slow
def test_ddp_cpu_steps_per_epoch_follow_the_effective_batch_size(tmp_path):
    """Two gloo processes: optimizer steps per epoch = ceil(train / (batch x accum x world))."""
    batch, accum, world = 32, 2, 2
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    cmd = [
        sys.executable,
        "-m",
        "gauntlet",
        "train",
        "trainer=ddp_cpu",
        f"trainer.devices={world}",
        f"trainer.accumulate_grad_batches={accum}",
        f"data.batch_size={batch}",
        "trainer.max_epochs=2",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        "test=false",
        f"paths.log_dir={tmp_path}",
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    metrics = assert_trained(manifest)
    train_size = manifest["data_sizes"]["train"]
    # every rank keeps an equal share; the last partial accumulation still steps
    batches_per_rank = math.ceil((train_size // world) / batch)
    steps_per_epoch = math.ceil(batches_per_rank / accum)
    assert steps_per_epoch == math.ceil(train_size / (batch * accum * world))
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 2 * steps_per_epoch
    assert metrics["perf/effective_batch_size"] == batch * accum * world
    assert manifest["config"]["trainer"]["devices"] == world


def test_gpu_presets_compose():
    # runs are named <data>_<model> whatever preset made them (docs/conventions.md)
    for preset, data, name in (
        ("digits_cnn_gpu", "digits", "cnn"),
        ("mnist1d_rnn_gpu", "mnist1d", "rnn"),
        ("mnist1d_transformer_gpu", "mnist1d", "transformer"),
    ):
        cfg = compose([f"experiment={preset}"])
        assert cfg.model.net._target_.rsplit(".", 1)[-1].lower() == name
        assert cfg.data.batch_size >= 256
        assert cfg.experiment_name == f"{data}_{name}"


@pytest.mark.slow
def test_gpu_bench_script_dry_run(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "WANDB_MODE": "offline"}
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_bench.sh"), "--dry-run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    table = (out / "bench.md").read_text()
    assert "| model |" in table and "ratio" in table
    rows = json.loads((out / "bench.json").read_text())
    assert {r["model"] for r in rows} == {"cnn", "rnn", "transformer"}
    assert all(r["full_samples_per_s"] > 0 and r["plain_samples_per_s"] > 0 for r in rows)
    # runs per hour with jobs sharing the device: every run of each setting completed
    shares = json.loads((out / "share.json").read_text())
    assert [(r["jobs"], r["runs"]) for r in shares] == [(1, 2), (2, 2)]
    assert all(r["runs_per_hour"] > 0 for r in shares)
    # through the GPU pool: every run placed on GPU 0, never more than K of them at once
    assert all(r["gpus"] == ["0"] and r["most_at_once"] <= r["jobs"] for r in shares)
    assert "| jobs at once |" in (out / "share.md").read_text()


def test_gpu_sharing_preset_runs_jobs_at_once_with_a_memory_cap(monkeypatch):
    monkeypatch.setenv("GAUNTLET_GPU_JOBS", "8")
    monkeypatch.setenv("GAUNTLET_GPU_MEMORY_FRACTION", "0.12")
    cfg = compose(["launcher=joblib_gpu", "experiment=gpu_cnn"])
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert int(cfg.hydra.launcher.n_jobs) == 8
    assert cfg.trainer.devices == 1 and cfg.trainer.accelerator == "gpu"
    cap = hydra.utils.instantiate(cfg.callbacks.gpu_share)
    assert cap.fraction == pytest.approx(0.12)


def test_gpu_memory_share_refuses_a_share_outside_0_to_1():
    from gauntlet.callbacks.gpu_share import GPUMemoryShare

    for bad in (0, 1.5, -0.2):
        with pytest.raises(GauntletError, match="GAUNTLET_GPU_MEMORY_FRACTION"):
            GPUMemoryShare(bad)
    assert GPUMemoryShare(None).fraction is None


def test_training_metrics_are_the_exact_epoch_means(train):
    """With the learning rate at 0 and no dropout the network is fixed through the epoch, so
    train/loss must be the mean of its batch losses and train/acc its accuracy on the split."""
    import torch.nn.functional as F

    from gauntlet.eval import load_run

    manifest, run_dir = train(
        "model=rnn",
        "model.optimizer.lr=0",
        "model.net.dropout=0",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=1",
        "test=false",
        fast=False,
    )
    loaded = load_run(run_dir / "checkpoints" / "last.ckpt")
    loaded.datamodule.setup("fit")
    net, losses, correct, seen = loaded.module.net, [], 0, 0
    with torch.no_grad():
        for x, y in loaded.datamodule.train_dataloader():
            logits = net(x)
            losses.append(float(F.cross_entropy(logits, y)))
            correct += int((logits.argmax(-1) == y).sum())
            seen += len(y)
    metrics = manifest["metrics"]
    assert seen == manifest["data_sizes"]["train"]
    assert metrics["train/acc"] == pytest.approx(correct / seen, abs=1e-6)
    assert metrics["train/loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-4)


def test_no_profiler_by_default_and_a_real_one_on_request(tmp_path):
    """Without trainer.profiler the trainer's profiler is Lightning's pass-through one; `simple`
    still reports."""
    from pytorch_lightning.profilers import PassThroughProfiler

    from gauntlet.train import build

    cfg = strip_hydra(compose([f"paths.log_dir={tmp_path}"], run_dir=tmp_path / "a"))
    _, _, trainer = build(cfg)
    assert type(trainer.profiler) is PassThroughProfiler

    cfg = compose([f"paths.log_dir={tmp_path}", "trainer.profiler=simple"], run_dir=tmp_path / "b")
    cfg = strip_hydra(cfg)
    _, _, trainer = build(cfg)
    assert type(trainer.profiler).__name__ == "SimpleProfiler"


def test_checkpoint_callback_keeps_lightnings_key_and_skips_only_when_it_cannot_save(train):
    from pytorch_lightning.callbacks import ModelCheckpoint as LightningModelCheckpoint

    from gauntlet.callbacks.checkpoint import ModelCheckpoint

    settings = {"monitor": "val/acc", "mode": "max"}
    ours, theirs = ModelCheckpoint(**settings), LightningModelCheckpoint(**settings)
    assert ours.state_key == theirs.state_key  # old checkpoints resume, new ones read back
    # saving per epoch only: the batch-end hook has nothing to look at (not even the trainer)
    ours.on_train_batch_end(None, None, None, None, 0)
    # saving every step: the hook is Lightning's, and a run saves mid-epoch
    _, run_dir = train(
        "+callbacks.model_checkpoint.every_n_train_steps=2",
        "callbacks.model_checkpoint.monitor=null",
        "callbacks.model_checkpoint.save_last=false",
        "callbacks.model_checkpoint.filename='step{step}'",
        "callbacks.model_checkpoint.save_top_k=-1",
        "trainer.limit_train_batches=5",
        "test=false",
    )
    saved = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert saved == ["step2.ckpt", "step4.ckpt"], saved
