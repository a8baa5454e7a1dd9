"""ListOps after the Long Range Arena (Tay et al., 2021): nested list operations as tokens.

An expression such as ``[MAX 4 [MIN 7 2 ] 9 [SM 3 8 ] ]`` nests ``MAX``, ``MIN``, ``MED``
(the median, rounded down) and ``SM`` (the sum mod 10) over the digits 0-9; its value, a digit,
is the label, so there are 10 classes. The expressions are made here by a seeded generator, no
download, and written once to the data cache under a name that hashes the generator's
arguments, so a change of any argument makes (and caches) a new dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path
from typing import Annotated

import numpy as np
from annotated_types import Ge

from gauntlet.data.base import InMemoryDataModule, Split, cached_arrays
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.settings import PositiveInt, Seed, Share

log = logging.getLogger(__name__)

OPERATORS = ("MAX", "MIN", "MED", "SM")
PAD = "<pad>"
# ids: 0 = padding, 1-10 = the digits, then one opening token per operator and the closing one
VOCAB = (PAD, *(str(d) for d in range(10)), *(f"[{op}" for op in OPERATORS), "]")
TOKEN_ID = {tok: i for i, tok in enumerate(VOCAB)}

GENERATOR_VERSION = 2  # part of the cache key: bump when the generator's output changes


def apply(op: str, values: list[int]) -> int:
    if op == "MAX":
        return max(values)
    if op == "MIN":
        return min(values)
    if op == "MED":
        ordered = sorted(values)
        mid = len(ordered) // 2
        # the lower median for an even count keeps the value a digit (LRA rounds down as well)
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) // 2
    return sum(values) % 10


def evaluate(tokens: list[str]) -> int:
    """The value of a tokenised expression (a single digit is its own value)."""
    stack: list[tuple[str, list[int]]] = []
    value = None
    for tok in tokens:
        if tok.startswith("["):
            stack.append((tok[1:], []))
            continue
        value = apply(*stack.pop()) if tok == "]" else int(tok)
        if not stack:
            return value
        stack[-1][1].append(value)
    raise ValueError(f"unbalanced expression: {' '.join(tokens)}")


class _Generator:
    """Random expression trees within a token budget.

    A node is a digit past ``max_depth``, with probability ``leaf_prob`` below the root, or
    when fewer than four tokens are left (the smallest operation is ``[OP d d ]``). Each
    argument may use the budget less one token for each argument still to come, so a tree
    never outgrows the budget and nothing long has to be drawn and thrown away.
    """

    def __init__(self, seed: int, max_depth: int, max_args: int, leaf_prob: float):
        # Python's random(): ten times faster per draw than numpy's, and its sequence for a
        # seed is promised not to change across Python versions (only random() itself is)
        self.draw = random.Random(seed).random
        self.max_depth = max_depth
        self.max_args = max_args
        self.leaf_prob = leaf_prob

    def choice(self, n: int) -> int:
        return int(self.draw() * n)

    def tree(self, budget: int, depth: int = 1) -> list[str]:
        leaf = depth > self.max_depth or (depth > 1 and self.draw() < self.leaf_prob)
        if leaf or budget < 4:
            return [str(self.choice(10))]
        op = OPERATORS[self.choice(len(OPERATORS))]
        n_args = min(2 + self.choice(self.max_args - 1), budget - 2)
        out = [f"[{op}"]
        left = budget - 2  # the opening and the closing token
        for i in range(n_args):
            arg = self.tree(left - (n_args - i - 1), depth + 1)
            out.extend(arg)
            left -= len(arg)
        out.append("]")
        return out


def generate(
    num_samples: int,
    max_length: int,
    min_length: int,
    max_depth: int,
    max_args: int,
    leaf_prob: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``num_samples`` expressions of ``min_length..max_length`` tokens, left-padded with 0.

    Expressions shorter than ``min_length`` are drawn again. Padding goes on the left so that a
    recurrent network's last step is the expression's closing bracket.
    """
    gen = _Generator(seed, max_depth, max_args, leaf_prob)
    x = np.zeros((num_samples, max_length), dtype=np.int64)
    y = np.zeros(num_samples, dtype=np.int64)
    made, tries = 0, 0
    while made < num_samples:
        tries += 1
        if tries >= 1000 and made < tries // 100:  # under 1% of draws fit: give up early
            raise GauntletError(
                f"data=listops: after {tries:,} draws only {made} expressions had "
                f"{min_length}..{max_length} tokens; widen data.min_length/data.max_length or "
                "change data.max_depth/data.max_args"
            )
        tokens = gen.tree(max_length)
        if not min_length <= len(tokens) <= max_length:
            continue
        x[made, max_length - len(tokens) :] = [TOKEN_ID[t] for t in tokens]
        y[made] = evaluate(tokens)
        made += 1
    return x, y


class ListOpsDataModule(InMemoryDataModule):
    """Train, validation and test expressions drawn by one seeded generator.

    The three splits are generated (not carved from one pool), in LRA's proportions by default;
    ``generator_seed`` and the shape arguments are the cache key.
    """

    def __init__(
        self,
        max_length: Annotated[int, Ge(5)] = 128,
        min_length: PositiveInt = 16,
        max_depth: PositiveInt = 6,
        max_args: Annotated[int, Ge(2)] = 5,
        leaf_prob: Share = 0.5,
        num_train: Annotated[int, Ge(10)] = 10_000,
        num_val: PositiveInt = 1_000,
        num_test: PositiveInt = 2_000,
        generator_seed: Seed = 0,
        cache_dir: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if min_length > max_length:
            raise GauntletError(
                f"data.min_length={min_length} must not exceed data.max_length={max_length}"
            )
        self.generator_args = {
            "version": GENERATOR_VERSION,
            "max_length": max_length,
            "min_length": min_length,
            "max_depth": max_depth,
            "max_args": max_args,
            "leaf_prob": leaf_prob,
            "sizes": [num_train, num_val, num_test],
            "seed": generator_seed,
        }
        self.max_length = max_length
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(json.dumps(self.generator_args, sort_keys=True).encode()).hexdigest()
        return self.cache_dir / f"listops-{key[:12]}.npz"

    def _generate(self) -> dict[str, np.ndarray]:
        args = self.generator_args
        out = {}
        # one child seed per split, so growing the training set leaves the test set as it was
        seeds = np.random.SeedSequence(args["seed"]).spawn(3)
        for name, size, seed in zip(("train", "val", "test"), args["sizes"], seeds, strict=True):
            x, y = generate(
                size,
                args["max_length"],
                args["min_length"],
                args["max_depth"],
                args["max_args"],
                args["leaf_prob"],
                int(seed.generate_state(1)[0]),
            )
            out[f"x_{name}"], out[f"y_{name}"] = x, y
        return out

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        names = [f"{v}_{s}" for s in ("train", "val", "test") for v in ("x", "y")]
        arrays = cached_arrays(self.cache_path(), names, self._generate)
        return {s: (arrays[f"x_{s}"], arrays[f"y_{s}"]) for s in ("train", "val", "test")}

    def to_tensor(self, x: np.ndarray):
        import torch

        return torch.as_tensor(x, dtype=torch.long)

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        return InputSpec(
            modality="tokens",
            shape=(self.max_length,),
            num_classes=10,
            vocab_size=len(VOCAB),
            pad_id=0,
            class_names=tuple(str(d) for d in range(10)),
            vocab=VOCAB,
        )
