"""``gauntlet bench``: what does the framework cost per training step?

For each architecture it trains the configured model and data twice, alternating over several
rounds, for the same epochs and so the same batches:

- **full**: gauntlet's own training path, built by :func:`gauntlet.train.build` with the loggers
  and callbacks a user gets (wandb offline, CSV, checkpoints, curves, progress bar, throughput);
- **plain**: a minimal hand-written PyTorch loop over the same network (same seed, so the same
  initial weights), the same batches, the same optimizer and scheduler, the same precision.

Two figures come out of each run:

- **the steady-state step**: the first ``--warmup-epochs`` epochs are left out, and inside every
  other epoch the clock runs from the end of its first step to the end of its last, so
  epoch-level work (iterator set-up, validation, checkpoints, epoch logs) is outside the window
  in both paths;
- **the whole fit**: the wall time of ``trainer.fit`` against the plain loop's wall time for the
  same epochs, where the plain loop also validates after every epoch (an ``eval()`` pass under
  ``inference_mode`` over the same validation batches, loss and accuracy). This is what a user
  waits for, epoch-end work included.

Timestamps are ``perf_counter`` on a CPU and CUDA events on a GPU, so timing adds no
synchronisation.

With ``--paired`` both paths share one run: after each of the full path's steps the plain loop
takes its own step on the same batch (see :func:`~gauntlet.bench.paired.run_paired`). On a machine whose speed drifts
from one minute to the next, this compares steps taken milliseconds apart rather than runs
taken a minute apart.

The package, one module per concern (the step clock it shares with the throughput callback is
:mod:`gauntlet.clock`): :mod:`~gauntlet.bench.configs` (the configs both paths run), :mod:`~gauntlet.bench.plain` (the
plain loop), :mod:`~gauntlet.bench.paired` (the full path, alone or paired with the plain loop),
:mod:`~gauntlet.bench.rounds` (the rounds of one architecture and their statistics),
:mod:`~gauntlet.bench.report` (the table) and :mod:`~gauntlet.bench.cli` (the command line).
"""
