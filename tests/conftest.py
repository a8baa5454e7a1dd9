"""Shared fixtures: compose the real configs and run the real entry points in a temp dir."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("GAUNTLET_LEADERBOARD_URL", "")  # tests use the log dir's SQLite file
# rows pending for an unreachable leaderboard are noted here, not in the user's home; each
# xdist worker inherits the controller's directory and keeps a folder of its own in it
os.environ.setdefault("GAUNTLET_STATE_DIR", tempfile.mkdtemp(prefix="gauntlet-state-"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["GAUNTLET_STATE_DIR"] = os.path.join(
        os.environ["GAUNTLET_STATE_DIR"], os.environ["PYTEST_XDIST_WORKER"]
    )

# after the environment above: gauntlet reads it when imported
from helpers import FAST, run_training


@pytest.fixture(autouse=True)
def _console_handlers_end_with_their_test():
    """A command run in this process (Hydra's job logging) leaves handlers on the root logger
    that write to the test's captured streams; once the test ends those streams are closed,
    so the handlers go with them, as they would with the command's own process."""
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for handler in set(root.handlers) - before:
        # the console ones (gauntlet.console.StreamHandler); the run's log file stays open
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            root.removeHandler(handler)


@pytest.fixture
def train(tmp_path):
    """``train(*overrides)`` -> (manifest, run_dir), fast by default (a few batches)."""

    def _train(*overrides: str, name: str = "run", fast: bool = True):
        return run_training(tmp_path, [*(FAST if fast else []), *overrides], name=name)

    return _train


@pytest.fixture(scope="session")
def trained_digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short real run of a small CNN on digits, trained once per test session (per worker
    under xdist). Trained enough to be right most of the time, and tested on the whole test
    split, so that the run's test/acc is measured on what the commands reading it see. Tests
    that write into a run take a copy (``checkpoint``); never write into this one."""
    _, run_dir = run_training(
        tmp_path_factory.mktemp("digits-cnn"),
        [
            *FAST,
            "data=digits",
            "model=cnn",
            "model.net.hidden=8",
            "model.net.depth=2",
            "trainer.max_epochs=3",
            "trainer.limit_train_batches=1.0",
            "trainer.limit_test_batches=1.0",
        ],
    )
    return run_dir


@pytest.fixture
def checkpoint(trained_digits_run: Path, tmp_path: Path) -> Path:
    """The last checkpoint of a copy of ``trained_digits_run``, for the commands that read one
    and write beside it (explain, attack): each test gets a run directory of its own."""
    run_dir = shutil.copytree(trained_digits_run, tmp_path / trained_digits_run.name)
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def single_thread():
    """One intra-op thread for a module's tests: tiny networks gain nothing from more, which
    only contend on a busy machine. Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    from _tiny_nets import one_thread

    with one_thread():
        yield


@pytest.fixture
def on_gpu():
    """``on_gpu(arch, modality)`` -> the cached trained network of ``_tiny_nets.trained`` and
    its held-out samples, all on the GPU; the networks go back to the CPU afterwards."""
    from _tiny_nets import trained

    moved = []

    def move(arch: str, modality: str):
        net, x, y, spec = trained(arch, modality)
        moved.append(net)
        return net.cuda(), x.cuda(), y.cuda(), spec

    yield move
    for net in moved:  # the cached networks go back for the CPU tests
        net.cpu()


@pytest.fixture
def text_file(tmp_path) -> Path:
    """A small CSV of text,label rows with real signal (sentiment words), written by the test."""
    import csv
    import random

    rng = random.Random(0)
    good = ["great", "fine", "lovely", "superb", "good", "nice"]
    bad = ["awful", "poor", "bad", "dull", "broken", "sad"]
    filler = ["the", "film", "was", "a", "plot", "and", "really", "acting", "very"]
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(240):
            label = "pos" if i % 2 else "neg"
            words = rng.sample(filler, 5) + rng.sample(good if label == "pos" else bad, 2)
            rng.shuffle(words)
            w.writerow([" ".join(words), label])
    return path


# The unit tier (``make test-unit``, well under a minute): the tests of these files, less those
# that ask for a trained run (TRAINING_FIXTURES) or carry one of NOT_UNIT. A file belongs here
# when each of its tests takes well under a second; docs/testing.md says more.
UNIT_FILES = frozenset(
    {
        "test_arch_matrix.py",
        "test_arrays.py",
        "test_compat_wall.py",
        "test_defaults.py",
        "test_interpret_cli.py",
        "test_leaderboard_aggregate.py",
        "test_leaderboard_cli.py",
        "test_leaderboard_store.py",
        "test_listops.py",
        "test_redaction_class.py",
        "test_robust_attacks.py",
        "test_robust_cli.py",
        "test_robust_training.py",
        "test_scarce_data.py",
        "test_secrets.py",
        "test_studies_scaling_transfer.py",
        "test_study_across_tasks.py",
        "test_study_spec.py",
        "test_study_statistics.py",
        "test_study_variance.py",
        "test_text_file.py",
    }
)
# fixtures that train a run (planted_run: test_redaction_class.py's run with planted secrets)
TRAINING_FIXTURES = frozenset({"train", "checkpoint", "trained_digits_run", "planted_run"})
NOT_UNIT = ("integration", "slow", "postgres", "slurm")


def in_unit_tier(item: pytest.Item) -> bool:
    return (
        item.path.name in UNIT_FILES
        and not TRAINING_FIXTURES & set(getattr(item, "fixturenames", ()))
        and not any(item.get_closest_marker(name) for name in NOT_UNIT)
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks the unit tier (``-m unit``)."""
    for item in items:
        if in_unit_tier(item):
            item.add_marker(pytest.mark.unit)
