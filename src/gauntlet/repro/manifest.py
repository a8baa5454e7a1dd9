"""The run manifest lives with the run record in :mod:`gauntlet.run.manifest`."""

from gauntlet.run.manifest import *  # noqa: F403
from gauntlet.run.manifest import (  # noqa: F401
    MANIFEST,
    base_manifest,
    changed_keys,
    flatten,
    new_run_id,
    now_iso,
    package_versions,
    read_manifest,
    rebase_paths,
    resumed_manifest,
    update_metrics,
    write_manifest,
)
