"""Every place gauntlet works around a Lightning internal, one module each.

When Lightning moves (the ``pytorch-lightning`` pin in ``pyproject.toml``), these are what to
check; each module says what it works around, the Lightning version it was measured on, and the
test that pins it. Measured on pytorch-lightning 2.6.6:

- :mod:`~gauntlet.compat.lightning.checkpoint`: ``ModelCheckpoint`` keeps its ``state_key``
  and skips its batch-end hook when it saves only at epoch ends (a speed-up;
  ``gauntlet bench --without checkpoint`` measures it);
- :mod:`~gauntlet.compat.lightning.csv_writer`: ``ContinuingWriter`` continues a resumed run's
  ``metrics.csv``, which Lightning's writer deletes, and ``continuing_experiment`` makes a
  CSVLogger write through it (a fix);
- :mod:`~gauntlet.compat.lightning.ddp`: ``reruns_command`` says whether the DDP launcher
  re-runs the command line, which Lightning says only through private API; ``rerun_as_job``
  makes that re-run one multirun job; ``drop_process_group`` leaves no process group behind a
  job for the next (fixes);
- :mod:`~gauntlet.compat.lightning.wandb_logger`: a WandbLogger leaves out the ``anonymous``
  setting wandb warns about, and says whether its run has started (a fix);
- :mod:`~gauntlet.compat.lightning.trainer`: ``attached_trainer`` is a module's trainer or None
  before one is attached (a fix).

A speed-up is kept only while it pays: ``gauntlet bench --paired --breakdown --without NAME``
runs Lightning's own code in its place (``switched_off`` below; pinned by
``tests/test_bench.py::test_bench_without_a_workaround_runs_lightnings_own_code_then_restores_it``),
and ``docs/bench.md`` ("Lightning workarounds") has the figures. Two were measured and dropped on 2026-12-03, their saving inside the spread over
rounds: a no-op profiler in place of Lightning's pass-through one (saved +114 µs/step on the
CNN, spread 277; +1 on the GRU, spread 105), and writing ``_current_fx_name`` without
``nn.Module.__setattr__`` (saved -265 µs/step on the CNN, spread 790; -5 on the GRU, spread 165).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from gauntlet.errors import GauntletError

# the speed-ups: name -> (module, class, the attributes that are the shortcut); without them the
# class runs Lightning's own code
SPEEDUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "checkpoint": ("checkpoint", "ModelCheckpoint", ("state_key", "on_train_batch_end")),
}


@contextmanager
def switched_off(names: Sequence[str]) -> Iterator[None]:
    """Inside, the named speed-ups are gone and Lightning's own code runs; restored after."""
    unknown = [name for name in names if name not in SPEEDUPS]
    if unknown:
        raise GauntletError(f"--without {unknown}: choose from {list(SPEEDUPS)}")
    removed = []
    try:
        for name in names:
            module, cls_name, attributes = SPEEDUPS[name]
            cls = getattr(importlib.import_module(f"{__name__}.{module}"), cls_name)
            for attribute in attributes:
                removed.append((cls, attribute, cls.__dict__[attribute]))
                delattr(cls, attribute)
        yield
    finally:
        for cls, attribute, value in reversed(removed):
            setattr(cls, attribute, value)
