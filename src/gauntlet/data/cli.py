"""``gauntlet data pack --to DIR [--shard-size 256MB] OVERRIDES...``: see :mod:`gauntlet.data.pack`."""

from __future__ import annotations

import argparse
import sys

from gauntlet.errors import GauntletError, from_constructor

USAGE = "gauntlet data pack --to DIR [--shard-size 256MB] OVERRIDES..."


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="gauntlet data",
        description="Write any dataset gauntlet reads as shards for data=shards. The "
        "overrides choose the data as for gauntlet train (data=image_folder data.root=DIR, "
        "data=arrays data.path=FILE.npz, ...).",
    )
    sub = parser.add_subparsers(dest="action")
    pack_parser = sub.add_parser("pack", help="write shards", usage=USAGE)
    pack_parser.add_argument("--to", required=True, help="output folder or fsspec URL")
    pack_parser.add_argument(
        "--shard-size", default="256MB", help="about this many bytes per shard (default 256MB)"
    )
    args, overrides = parser.parse_known_args(argv)
    if args.action != "pack":
        parser.print_help(sys.stderr if argv else sys.stdout)
        return 2 if argv else 0
    unknown = [o for o in overrides if o.startswith("-")]
    if unknown:
        raise GauntletError(f"data pack: unknown option {unknown[0]}; usage: {USAGE}")

    import hydra
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from gauntlet.config import compose
    from gauntlet.config_schema import check_component, rename_former_keys
    from gauntlet.data.pack import pack, parse_size

    shard_bytes = parse_size(args.shard_size)
    cfg = compose(overrides)
    rename_former_keys(cfg)  # as train reads them: data.max_len is data.max_length
    check_component(cfg.data, "data")  # each setting's range, as train checks it
    pl.seed_everything(cfg.seed, workers=True, verbose=False)  # as train: the same splits
    with from_constructor("data"):
        datamodule = hydra.utils.instantiate(cfg.data)
    if cfg.get("synthesize") and "_target_" in cfg.synthesize:
        with from_constructor("synthesize"):
            datamodule.synthesizer = hydra.utils.instantiate(cfg.synthesize)
    source = {
        "overrides": overrides,
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "seed": cfg.seed,
    }
    record = pack(datamodule, args.to, shard_bytes, source)
    shards = {s: len(info["shards"]) for s, info in record["splits"].items()}
    print(
        f"packed {record['sizes']} samples into {shards} shards in {args.to} "
        f"(fingerprint {record['fingerprint']})"
    )
    return 0
