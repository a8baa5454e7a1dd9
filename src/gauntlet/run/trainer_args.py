"""The Trainer's arguments where Lightning checks them late: inside ``fit``, or when the
distributed group forms.

- Lightning checks some values only once it knows the data (``val_check_interval=1000`` with 2
  training batches): what it raises inside ``fit`` about an argument the user set becomes a
  :class:`~gauntlet.errors.GauntletError` naming ``trainer.KEY`` (exit code 2, no traceback).
- A run over several nodes waits for its peers to join the group; with no cluster around it
  (``trainer.num_nodes=2`` on a laptop) it would wait for ever. It is refused at once unless a
  launcher (SLURM, torchrun, a manual ``MASTER_ADDR``/``NODE_RANK``) says where the peers are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from gauntlet.errors import GauntletError

# what tells Lightning (and torch) where the other nodes of a run are
CLUSTER_ENV = (
    "SLURM_NTASKS",
    "SLURM_JOB_ID",
    "TORCHELASTIC_RUN_ID",
    "WORLD_SIZE",
    "NODE_RANK",
    "MASTER_ADDR",
    "LSB_JOBID",
    "OMPI_COMM_WORLD_SIZE",
    "KUBERNETES_SERVICE_HOST",
)


def named_argument(message: str, arguments: Mapping[str, Any]) -> str | None:
    """The first of ``arguments`` that ``message`` names as a word, if any."""
    found = []
    for key in arguments:
        m = re.search(rf"(?<![\w.]){re.escape(str(key))}(?!\w)", message)
        if m:
            found.append((m.start(), str(key)))
    return min(found)[1] if found else None


@contextmanager
def trainer_argument_errors(trainer_cfg: Mapping[str, Any]) -> Iterator[None]:
    """Inside ``fit``: Lightning's error about an argument the user set, as a user error."""
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        yield
    except (ValueError, MisconfigurationException) as err:
        message = str(err).strip()
        key = named_argument(message, {k: v for k, v in trainer_cfg.items() if k != "_target_"})
        if key is None:
            raise
        first = " ".join(message.replace("`", "").split())
        raise GauntletError(f"trainer.{key}={trainer_cfg[key]}: {first}") from err


def check_group_can_form(
    trainer_cfg: Mapping[str, Any], environ: Mapping[str, str] = os.environ
) -> None:
    """Refuse a run over several nodes that no cluster launcher started: nothing would join."""
    nodes = trainer_cfg.get("num_nodes") or 1
    if not isinstance(nodes, int) or nodes <= 1:
        return
    if any(environ.get(name) for name in CLUSTER_ENV):
        return
    raise GauntletError(
        f"trainer.num_nodes={nodes}: no cluster started this run, so no other node would join "
        f"its group and it would wait for ever. Run it on {nodes} nodes under SLURM "
        "(launcher=submitit_slurm, or srun) or torchrun (--nnodes), or set MASTER_ADDR, "
        "MASTER_PORT, NODE_RANK and WORLD_SIZE on each node; on one machine use "
        "trainer.num_nodes=1"
    )
