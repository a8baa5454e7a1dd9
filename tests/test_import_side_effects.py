"""Importing gauntlet does nothing beyond defining: Hydra's ConfigStore, its classes and
OmegaConf's resolvers are changed only by the command's entry (``gauntlet.cli.run_hydra``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# In a fresh interpreter: Hydra's state before and after importing every gauntlet module, then
# after the entry's own set-up (which must show, or the comparison could not fail).
SCRIPT = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import hydra._internal.config_repository, hydra._internal.hydra, hydra._internal.utils
    from hydra.core.config_store import ConfigStore
    from omegaconf.basecontainer import BaseContainer

    def state():
        seen = {}
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(("hydra", "omegaconf")):
                continue
            for attr, value in list(vars(module).items()):
                seen[f"{name}.{attr}"] = id(value)
                if isinstance(value, type):
                    for key, member in list(vars(value).items()):
                        seen[f"{name}.{attr}.{key}"] = id(member)
        store = json.dumps(ConfigStore.instance().repo, default=repr, sort_keys=True)
        return seen, store, sorted(BaseContainer._resolvers)

    def changes(before, after):
        (ids, store, resolvers), (ids2, store2, resolvers2) = before, after
        moved = sorted(k for k in ids if ids2.get(k, ids[k]) != ids[k])
        if store != store2:
            moved.append("ConfigStore")
        moved += [f"resolver {r}" for r in sorted(set(resolvers2) - set(resolvers))]
        return moved

    import gauntlet
    before = state()
    imported, skipped = [], []
    for info in pkgutil.walk_packages(gauntlet.__path__, "gauntlet."):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # runs the command by definition
            continue
        try:
            importlib.import_module(info.name)
            imported.append(info.name)
        except ModuleNotFoundError as err:  # an optional extra that is not installed
            if (err.name or "").startswith("gauntlet"):
                raise
            skipped.append(info.name)
    after_import = state()
    from gauntlet.compat import hydra_errors, hydra_mode
    from gauntlet.config import register_schemas
    from gauntlet.run.user_errors import composition_error
    register_schemas(); hydra_mode.install(); hydra_errors.install(composition_error)
    print(json.dumps({
        "imported": imported, "skipped": skipped,
        "by_import": changes(before, after_import),
        "by_entry": changes(after_import, state()),
    }))
    """
)


def test_importing_every_gauntlet_module_leaves_hydra_untouched():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert "gauntlet.train" in found["imported"] and "gauntlet.eval" in found["imported"]
    assert len(found["imported"]) > 100, found["skipped"]
    assert found["by_import"] == []
    # the entry's set-up is what changes Hydra: the schemas, the resolvers, the two patches
    assert "ConfigStore" in found["by_entry"]
    assert "resolver gauntlet.output_dir" in found["by_entry"]
    assert "hydra._internal.hydra.Hydra.get_mode" in found["by_entry"]
    assert "hydra._internal.utils.run_and_report" in found["by_entry"]
