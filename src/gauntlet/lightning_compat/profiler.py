"""The profiler a run gets when ``trainer.profiler`` is null: one that costs nothing.

Works around: Lightning wraps every hook it calls in ``trainer.profiler.profile(name)``,
profiler or not; with none it uses a pass-through profiler whose ``profile`` is still a
generator-based context manager, entered and left some fifty times per training step. This one
hands back a single shared no-op context instead. Any real profiler (``trainer.profiler=simple``,
``advanced``, ``pytorch``) replaces it.

Measured on pytorch-lightning 2.6.6. Pinned by
``tests/test_compute.py::test_no_profiler_by_default_and_a_real_one_on_request``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from pytorch_lightning.profilers import PassThroughProfiler

_NOTHING = nullcontext()


class NoProfiler(PassThroughProfiler):
    def profile(self, action_name: str) -> AbstractContextManager:  # type: ignore[override]
        return _NOTHING
