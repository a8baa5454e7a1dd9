"""Where the Hydra config tree lives, and the user's own config directory beside it.

One lookup serves a checkout and an installed wheel: ``$GAUNTLET_CONFIG_DIR`` if set, else the
``conf/`` a wheel carries inside the package, else the checkout's top-level ``conf/`` beside
``src/``. A user's directory (``--config-dir DIR``) is searched before it, so their
``model/``, ``data/``, ``experiment/``... files sit next to gauntlet's own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from gauntlet.config_schema import register_schemas
from gauntlet.errors import GauntletError

PACKAGE_DIR = Path(__file__).resolve().parent
# set by `gauntlet --config-dir DIR`, so child processes (multirun jobs, study launches) see it
USER_CONFIG_ENV = "GAUNTLET_USER_CONFIG_DIR"


def find_config_dir() -> Path:
    override = os.environ.get("GAUNTLET_CONFIG_DIR")
    if override:
        path = Path(override).expanduser().resolve()
        if not (path / "train.yaml").is_file():
            raise GauntletError(f"GAUNTLET_CONFIG_DIR={override}: no train.yaml in that directory")
        return path
    for path in (PACKAGE_DIR / "conf", PACKAGE_DIR.parents[1] / "conf"):
        if (path / "train.yaml").is_file():
            return path
    raise GauntletError(
        f"gauntlet's configs are missing: neither {PACKAGE_DIR / 'conf'} (an installed package) "
        f"nor {PACKAGE_DIR.parents[1] / 'conf'} (a checkout) holds train.yaml; reinstall "
        "gauntlet or set GAUNTLET_CONFIG_DIR"
    )


CONFIG_DIR = find_config_dir()


def user_config_dir() -> Path | None:
    value = os.environ.get(USER_CONFIG_ENV)
    return Path(value) if value else None


def set_user_config_dir(value: str | Path) -> Path:
    """Check ``--config-dir DIR`` and remember it for this process and its children."""
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise GauntletError(f"--config-dir {value}: no such directory")
    os.environ[USER_CONFIG_ENV] = str(path)
    return path


def import_from(directory: str | Path) -> None:
    """Make the modules in ``directory`` importable by ``_target_`` (as ``python -m`` does)."""
    path = str(Path(directory).resolve())
    if path not in sys.path:
        sys.path.insert(0, path)
    inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if path not in inherited:
        os.environ["PYTHONPATH"] = os.pathsep.join([path, *filter(None, inherited)])


def project_record() -> dict[str, Any]:
    """Where a run found the user's pieces: its working directory and config directory."""
    config_dir = user_config_dir()
    return {"dir": os.getcwd(), "config_dir": str(config_dir) if config_dir else None}


def restore_project(record: dict[str, Any] | None) -> None:
    """Before resuming or reproducing a run: its modules importable, its config dir searched."""
    if not record:
        return
    if record.get("dir") and Path(record["dir"]).is_dir():
        import_from(record["dir"])
    config_dir = record.get("config_dir")
    if config_dir and Path(config_dir).is_dir() and not user_config_dir():
        os.environ[USER_CONFIG_ENV] = str(config_dir)
        import_from(Path(config_dir).parent)


def compose(overrides: list[str], run_dir: Path | None = None, config_name: str = "train"):
    """The config ``gauntlet train OVERRIDES`` would run, with Hydra's runtime config set as in a
    run (``HydraConfig.get()`` and ``${hydra:...}`` work). With ``run_dir``, that directory
    (made here) is the run's output directory, as ``hydra.run.dir`` would make it.

    The schemas validate types, as at the command line; a bad override raises Hydra's own
    exception, which names the key.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    register_schemas()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name, overrides=overrides, return_hydra_config=True)
    if run_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(run_dir)
            cfg.hydra.job.num = 0
        run_dir.mkdir(parents=True, exist_ok=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


__all__ = ["CONFIG_DIR", "compose", "find_config_dir", "register_schemas"]
