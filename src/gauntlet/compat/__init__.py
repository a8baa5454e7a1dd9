"""Where gauntlet reaches into a library's private API: one module per library, and nowhere
else (``tests/test_compat_wall.py`` holds the wall). Each entry names the version it was
written against, why it is needed, and the test that pins it. When a pin in ``pyproject.toml``
moves, these are what to check. Lightning's entries are in :mod:`gauntlet.lightning_compat`.

- :mod:`~gauntlet.compat.hydra`: hide internal configs from Hydra's option listing
  (hydra-core 1.3.8);
- :mod:`~gauntlet.compat.hydra_errors`: Hydra's composition errors as user errors, exit 2
  (hydra-core 1.3.8);
- :mod:`~gauntlet.compat.hydra_mode`: spare Hydra its second composition (hydra-core 1.3.2);
- :mod:`~gauntlet.compat.lightning_ddp`: DDP children re-run one multirun job, and leave no
  process group behind it (pytorch-lightning 2.6.6);
- :mod:`~gauntlet.compat.wandb`: skip W&B Launch's import at a run's start (wandb 0.31.0);
- :mod:`~gauntlet.compat.torch`: drop a module copy's hooks; Dynamo's graph count (torch 2.13.0);
- :mod:`~gauntlet.compat.captum`: the ridge surrogate LIME fits (captum 0.9.0).
"""
