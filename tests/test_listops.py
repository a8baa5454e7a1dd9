"""data=listops: a seeded ListOps generator after the Long Range Arena, cached by its arguments."""

from __future__ import annotations

import numpy as np
import pytest

from gauntlet.data.listops import VOCAB, ListOpsDataModule, apply, evaluate
from gauntlet.errors import GauntletError

SMALL = {"num_train": 300, "num_val": 50, "num_test": 80, "max_length": 64, "max_depth": 4}


def tokens_of(row: np.ndarray) -> list[str]:
    return [VOCAB[i] for i in row.tolist() if i != 0]


def tokens(expr: str) -> list[str]:
    return expr.split(" ")


def test_the_operators_follow_listops():
    assert apply("MAX", [3, 9, 1]) == 9
    assert apply("MIN", [3, 9, 1]) == 1
    assert apply("MED", [3, 9, 1]) == 3
    assert apply("MED", [2, 7]) == 4  # the median of an even count, rounded down
    assert apply("SM", [7, 8, 9]) == 4  # sum mod 10
    assert evaluate(tokens("[MAX 4 [MIN 7 2 ] 9 [SM 3 8 ] ]")) == 9
    assert evaluate(tokens("[SM [MED 1 5 9 ] [MAX 2 6 ] 3 ]")) == 4


def test_every_sample_is_a_balanced_expression_of_its_label_within_the_limits(tmp_path):
    dm = ListOpsDataModule(**SMALL, cache_dir=str(tmp_path))
    dm.setup()
    assert dm.sizes() == {"train": 300, "val": 50, "test": 80}
    assert dm.spec.modality == "tokens" and dm.spec.shape == (64,)
    assert dm.spec.num_classes == 10 and dm.spec.vocab_size == len(VOCAB) == 16
    depths = []
    for name, split in dm.splits.items():
        for row, label in zip(split.x.numpy(), split.y.tolist(), strict=True):
            toks = tokens_of(row)
            assert 16 <= len(toks) <= 64, name
            assert row[0] == 0 or len(toks) == 64  # padded on the left
            assert evaluate(toks) == label
            depth = level = 0
            for t in toks:
                level += t.startswith("[")
                level -= t == "]"
                depth = max(depth, level)
            assert level == 0
            depths.append(depth)
    assert max(depths) <= 4 and min(depths) >= 1
    counts = np.bincount(dm.splits["train"].y.numpy(), minlength=10)
    assert counts.min() > 0  # every class occurs


def test_it_is_written_once_to_the_cache_keyed_by_the_generator_arguments(tmp_path):
    a = ListOpsDataModule(**SMALL, cache_dir=str(tmp_path))
    a.setup()
    files = list(tmp_path.glob("listops-*.npz"))
    assert files == [a.cache_path()]
    stamp = files[0].stat().st_mtime_ns
    b = ListOpsDataModule(**SMALL, cache_dir=str(tmp_path))
    b.setup()
    assert files[0].stat().st_mtime_ns == stamp  # read, not rewritten
    assert a.fingerprint() == b.fingerprint()
    c = ListOpsDataModule(**{**SMALL, "max_depth": 3}, cache_dir=str(tmp_path))
    c.setup()
    assert len(list(tmp_path.glob("listops-*.npz"))) == 2
    assert c.fingerprint() != a.fingerprint()
    uncached = ListOpsDataModule(**SMALL)
    uncached.setup()
    assert uncached.fingerprint() == a.fingerprint()  # the seed alone fixes the data


def test_a_different_generator_seed_gives_different_expressions():
    a = ListOpsDataModule(**SMALL, generator_seed=0)
    b = ListOpsDataModule(**SMALL, generator_seed=1)
    a.setup()
    b.setup()
    assert a.fingerprint() != b.fingerprint()


@pytest.mark.parametrize(
    ("key", "value", "accepts"),
    [("max_length", 3, ">= 5"), ("max_depth", 0, ">= 1"), ("leaf_prob", 1.0, ">= 0.0 and < 1.0")],
)
def test_bad_generator_arguments_are_named(key, value, accepts):
    from gauntlet.config_schema import validate
    from helpers import compose, strip_hydra

    cfg = strip_hydra(compose(["data=listops", f"data.{key}={value}"]))
    with pytest.raises(GauntletError, match=f"data.{key} must be {accepts}, got {value}"):
        validate(cfg)


def test_a_minimum_length_above_the_maximum_is_named():
    with pytest.raises(
        GauntletError, match=r"data\.min_length=100 must not exceed data\.max_length"
    ):
        ListOpsDataModule(**{**SMALL, "min_length": 100})


def test_an_impossible_length_range_says_what_to_change():
    dm = ListOpsDataModule(**{**SMALL, "min_length": 60, "max_depth": 1, "max_args": 3})
    with pytest.raises(GauntletError, match=r"widen data\.min_length/data\.max_length"):
        dm.setup()
