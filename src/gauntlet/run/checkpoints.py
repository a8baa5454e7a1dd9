"""Reading a checkpoint, the one place it is done: for a run that continues from it (readable, of
this model, what it has trained so far) and for the commands that load a finished run's
(``eval``, ``explain``, ``attack``: :func:`read_checkpoint`)."""

from __future__ import annotations

import logging
import pickle
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)


# what torch.load raises on a file that is not a whole checkpoint (truncated, another format)
_UNREADABLE = (
    RuntimeError,
    EOFError,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    ValueError,
    OSError,
)


def _torch_load(path: str) -> Any:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


@lru_cache(maxsize=4)
def _cached_load(path: str, mtime_ns: int) -> Any:
    # a run that continues reads its checkpoint three times (damaged? same model? how far?)
    return _torch_load(path)


def load(path: Path, cached: bool = True) -> dict[str, Any]:
    """The checkpoint's contents; raises ``ValueError`` naming why it cannot be read (its
    ``__cause__`` is what torch raised, where torch could not read the file)."""
    try:
        if cached:
            checkpoint = _cached_load(str(path), path.stat().st_mtime_ns)
        else:
            checkpoint = _torch_load(str(path))
    except _UNREADABLE as err:
        raise ValueError(f"{type(err).__name__}: {str(err).strip().splitlines()[0]}") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError("not a Lightning checkpoint (no state_dict)")
    return checkpoint


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint gauntlet wrote, read afresh (the caller may change it); a user error names
    ``ckpt_path`` and why the file cannot be used."""
    path = Path(path)
    if path.is_dir():
        raise GauntletError(
            f"ckpt_path={path} is a directory; give a checkpoint file, such as "
            f"{path / 'checkpoints' / 'last.ckpt'}"
        )
    if not path.is_file():
        raise GauntletError(f"ckpt_path={path}: no such checkpoint file")
    try:
        checkpoint = load(path, cached=False)
    except ValueError as err:
        if err.__cause__ is None:
            raise GauntletError(f"ckpt_path={path}: {err}") from None
        cause = err.__cause__
        raise GauntletError(
            f"ckpt_path={path}: not a readable PyTorch checkpoint ({cause})"
        ) from cause
    if "gauntlet_config" not in checkpoint:
        raise GauntletError(f"ckpt_path={path}: not written by gauntlet (no run config inside)")
    return checkpoint


def network_weights(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The module's weights under the keys of an uncompiled network."""
    from gauntlet.compat.torch import uncompiled_keys

    return uncompiled_keys(checkpoint["state_dict"])


def check_resumable(path: Path, what: str) -> None:
    """Refuse a damaged checkpoint, naming the last good one beside it."""
    try:
        load(path)
    except ValueError as err:
        good = last_good(path.parent, but=path)
        hint = (
            f"the last good checkpoint there is {good}: copy it over {path.name} to continue "
            f"from it, or start a new run from it with ckpt_path={good}"
            if good
            else "no other checkpoint there can be read; start the run again"
        )
        raise GauntletError(f"{what}: checkpoint {path} is damaged ({err}); {hint}") from None


def last_good(directory: Path, but: Path | None = None) -> Path | None:
    """The newest checkpoint in ``directory`` that can be read."""
    candidates = sorted(
        (p for p in directory.glob("*.ckpt") if but is None or p.resolve() != but.resolve()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for candidate in candidates:
        try:
            load(candidate)
        except ValueError:
            log.warning("checkpoint %s is damaged too", candidate)
            continue
        return candidate
    return None


def trained_so_far(path: Path) -> tuple[int, int]:
    """The (epochs, optimizer steps) a checkpoint has completed."""
    checkpoint = load(path)
    # saved at the end of an epoch, before the loop counts that epoch as completed
    return int(checkpoint.get("epoch", -1)) + 1, int(checkpoint.get("global_step", 0))


def check_same_model(path: Path, module: Any, what: str) -> None:
    """Refuse to continue from a checkpoint whose weights are another model's."""
    state = load(path)["state_dict"]
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if not (missing or unexpected or shapes):
        return
    theirs = (load(path).get("gauntlet_config") or {}).get("model", {}).get("net", {})
    detail = (
        f"{shapes[0]} is {tuple(state[shapes[0]].shape)} there, {tuple(own[shapes[0]].shape)} here"
        if shapes
        else f"{len(missing)} weights missing, {len(unexpected)} unexpected"
    )
    raise GauntletError(
        f"ckpt_path={what}: that checkpoint is of another model "
        f"({theirs.get('_target_', 'unknown network')}; {detail}). Continue a run only from "
        "its own checkpoints; to evaluate that model use gauntlet eval ckpt_path=..."
    )
