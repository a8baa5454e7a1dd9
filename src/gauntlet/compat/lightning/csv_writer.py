"""The CSV writer that continues a ``metrics.csv`` instead of deleting it, and how a CSVLogger
(``gauntlet.loggers.CSVLogger``, ``logger=csv``) is made to write through it.

Works around: Lightning's ``ExperimentWriter`` deletes the ``metrics.csv`` already in its
directory when it starts, so a run resumed in its own directory would lose the rows of every
epoch before the interruption. This one reads that file's header and writes the old rows and the
new ones as a whole new file, renamed over the old.

A fix, not a speed-up: it costs a read of the file at each save (once an epoch), and has no
per-step figure. Measured on pytorch-lightning 2.6.6. Pinned by
``tests/test_resume.py::test_a_resumed_run_keeps_the_metrics_it_logged_before``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from pytorch_lightning.loggers.csv_logs import ExperimentWriter


class ContinuingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that it continues a ``metrics.csv`` already in its
    directory. Lightning's deletes the file when it starts, so a run resumed in its own
    directory would lose the rows of every epoch before the interruption. ``write_text(path,
    text)`` writes the whole file (gauntlet's is the run directory's atomic write)."""

    def __init__(self, log_dir: str, write_text: Callable[[str, str], Any]) -> None:
        self._write_text = write_text
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as f:
            header = next(csv.reader(f), [])
        # new rows are appended under this header; a new key rewrites the file with a wider one
        self.metrics_keys = header

    def save(self) -> None:
        """Write the rows so far and the new ones as a whole new file, renamed over the old:
        a crash or a full disk mid-write leaves the previous complete file."""
        if not self.metrics:
            return
        self._record_new_keys()
        rows: list[dict] = []
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                rows = list(csv.DictReader(f))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.metrics_keys)
        writer.writeheader()
        writer.writerows(rows + self.metrics)
        self._write_text(self.metrics_file_path, out.getvalue())
        self.metrics = []


def continuing_experiment(logger: Any, write_text: Callable[[str, str], Any]) -> ContinuingWriter:
    """A CSVLogger's writer, made once as a :class:`ContinuingWriter`: Lightning's
    ``experiment`` property builds its own in the private ``_experiment``, with ``_fs``."""
    if logger._experiment is None:
        logger._fs.makedirs(logger.root_dir, exist_ok=True)
        logger._experiment = ContinuingWriter(logger.log_dir, write_text)
    return logger._experiment
