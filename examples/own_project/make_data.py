"""Write my_data.npz: 12x12 one-channel images of three strokes (a horizontal bar, a vertical
bar, a diagonal) at random places, with noise. Only x_train/y_train: gauntlet carves the
validation and test splits itself (seeded, stratified).

    python make_data.py [--samples 1500] [--out my_data.npz]
"""

import argparse

import numpy as np


def strokes(samples: int, size: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, samples)
    x = 0.3 * rng.random((samples, 1, size, size), dtype=np.float32)
    for i, label in enumerate(y):
        r, c = rng.integers(0, size - 5, 2)
        if label == 0:
            x[i, 0, r + 2, c : c + 6] += 0.7
        elif label == 1:
            x[i, 0, r : r + 6, c + 2] += 0.7
        else:
            x[i, 0, r + np.arange(6), c + np.arange(6)] += 0.7
    return x.clip(0, 1), y


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1500)
    parser.add_argument("--out", default="my_data.npz")
    args = parser.parse_args()
    x, y = strokes(args.samples)
    np.savez(args.out, x_train=x, y_train=y)
    print(f"wrote {args.out}: x_train {x.shape} {x.dtype}, y_train {y.shape}, 3 classes")
