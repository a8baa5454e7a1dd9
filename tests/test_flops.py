"""``perf/train_flops``: FLOPs of one training sample, counted once, times the samples seen."""

from __future__ import annotations

import pytest
import torch

from gauntlet.callbacks.flops import flops_per_sample
from gauntlet.data.spec import InputSpec
from gauntlet.models.rnn import RNN

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize(
    ("model", "width"),
    [
        ("cnn", "model.net.hidden=8"),
        ("rnn", "model.net.hidden=16"),
        ("transformer", "model.net.hidden=16"),
    ],
)
def test_every_architecture_records_its_training_flops(train, model, width):
    manifest, _ = train("data=digits", f"model={model}", width, "data.batch_size=32")

    metrics = manifest["metrics"]
    per_sample = metrics["perf/flops_per_sample"]
    assert per_sample > 1000  # a real forward and backward pass, not just the head
    # three training batches of 32 (the fast settings' limit_train_batches=3)
    assert metrics["perf/train_flops"] == pytest.approx(per_sample * 3 * 32)


def test_the_lstm_kernel_is_counted_and_wider_networks_cost_more():
    spec = InputSpec("image", (1, 8, 8), 10, value_range=(0.0, 1.0))
    x = torch.rand(4, 1, 8, 8)
    narrow = flops_per_sample(RNN(spec, cell="lstm", hidden=16), x)
    wide = flops_per_sample(RNN(spec, cell="lstm", hidden=32), x)
    # per step 4 gates of (8 inputs + h) x h multiply-adds, 8 rows; backward twice the forward;
    # plus the h -> 10 head
    for hidden, counted in ((16, narrow), (32, wide)):
        lstm = 3 * 2 * 8 * 4 * (8 + hidden) * hidden
        head = 3 * 2 * hidden * 10
        assert counted == pytest.approx(lstm + head, rel=0.02)
    assert wide > 2 * narrow
