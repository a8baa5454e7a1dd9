"""Where gauntlet reaches into a library's private API or reads its messages: one module per
library, and nowhere else (import-linter's contracts in ``pyproject.toml`` and
``tests/test_compat_wall.py`` hold the wall; ``scripts/private_api_uses.py`` lists any use
outside it). Each entry names the version it was written against, why it is needed, and the test
that pins it. When a pin in ``pyproject.toml`` moves, these are what to check.

- :mod:`~gauntlet.compat.lightning`: Lightning's internals, one module each (checkpoint speed-up,
  continuing CSV writer, DDP launcher, WandbLogger settings, a module's trainer); its speed-ups
  are measured by ``gauntlet bench --without NAME`` (pytorch-lightning 2.6.6);
- :mod:`~gauntlet.compat.hydra`: hide internal configs from Hydra's option listing; the basic
  launcher; a failed job's exception (hydra-core 1.3.8);
- :mod:`~gauntlet.compat.hydra_errors`: Hydra's composition errors as user errors, exit 2
  (hydra-core 1.3.8);
- :mod:`~gauntlet.compat.hydra_mode`: spare Hydra its second composition (hydra-core 1.3.2);
- :mod:`~gauntlet.compat.wandb`: skip W&B Launch's import at a run's start (wandb 0.31.0);
- :mod:`~gauntlet.compat.torch`: drop a module copy's hooks; Dynamo's graph count; the
  ``_orig_mod.`` prefix of a compiled module's weights (torch 2.13.0);
- :mod:`~gauntlet.compat.captum`: the ridge surrogate LIME fits (captum 0.9.0);
- :mod:`~gauntlet.compat.optuna`: a trial's storage id (optuna 5.1.0);
- :mod:`~gauntlet.compat.tqdm`: the log handlers tqdm's logging redirect installs (tqdm 4.70.1);
- :mod:`~gauntlet.compat.numpy`: the classes a pickled array names (numpy 1.26 and 2.x);
- :mod:`~gauntlet.compat.messages`: the words of torch's, Lightning's, Hydra's and OmegaConf's
  error messages that name the config key at fault, and SQLite's that call for a retry.
"""
