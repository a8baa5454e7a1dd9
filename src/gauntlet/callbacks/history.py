"""Writes every metric logged in an epoch to the leaderboard's history table at the epoch's end.

A teammate then sees a run's curves from the shared store, without the run's disk. Each epoch
goes in one transaction, so a run killed by SIGKILL keeps every epoch it finished. When the
database cannot be reached, the epoch is appended to ``RUN_DIR/history.pending.jsonl`` instead
(:mod:`gauntlet.run.pending`), and so are the later ones of the run (no training step waits on
an unreachable server again); the next gauntlet command that opens the database writes them.

The run's id is read from the manifest the run record writes before fit, so the callback needs
nothing from the entry point. Only rank 0 writes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

log = logging.getLogger(__name__)


class History(pl.Callback):
    """Record ``trainer.callback_metrics`` per epoch in the leaderboard (see the module doc).

    ``step_loss`` also keeps the last ``train/loss_step`` (and any other ``*_step`` metric) of
    each epoch; by default only epoch-level values are kept.
    """

    def __init__(
        self,
        run_dir: str,
        url: str | None = None,
        log_dir: str = "logs",
        enabled: bool = True,
        step_loss: bool = False,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.url = url
        self.log_dir = log_dir
        self.enabled = enabled
        self.step_loss = step_loss
        self._board: Any = None
        self._resolved: str | None = None
        self._unreachable = False
        self._run_id: str | None = None
        self._finished: tuple[int, int] | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The LightningModule's own epoch-end hook (train/acc, the gaps, throughput) runs after
        # the callbacks' ones, so the epoch is written once it is complete: when the next
        # epoch starts, or when fit ends.
        if self.enabled and trainer.is_global_zero:
            self._finished = (trainer.current_epoch, trainer.global_step)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(trainer)
        self.close()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._flush(trainer)
        self.close()

    def _flush(self, trainer: pl.Trainer) -> None:
        if self._finished is None:
            return
        epoch, step = self._finished
        self._finished = None
        metrics = self.epoch_metrics(trainer.callback_metrics)
        if metrics:
            self.record(epoch, step, metrics)

    def epoch_metrics(self, logged: dict[str, Any]) -> dict[str, float]:
        kept = {}
        for name, value in logged.items():
            if name.endswith("_step") and not self.step_loss:
                continue
            try:
                number = float(value.item() if hasattr(value, "item") else value)
            except (TypeError, ValueError, RuntimeError):
                continue
            kept[name] = number
        return kept

    def record(self, epoch: int, step: int, metrics: dict[str, float]) -> None:
        """Write one epoch to the store, or keep it pending in the run directory."""
        from gauntlet.run.manifest import now_iso

        run_id = self.run_id()
        if run_id is None:
            return
        entry = {"epoch": epoch, "step": step, "recorded": now_iso(), "metrics": metrics}
        url = self.resolved_url()
        if not self._unreachable:
            try:
                self.board().record_history(
                    run_id, epoch, metrics, step=step, recorded=entry["recorded"]
                )
                return
            except Exception as err:  # the store is down: keep it, train on
                from gauntlet.redaction import redact_text

                self._unreachable = True
                self.close()
                log.warning(
                    "could not record epoch %d of run %s in the leaderboard (%s); this run's "
                    "history is kept in %s until a command reaches the store",
                    epoch,
                    run_id,
                    redact_text(str(err)).splitlines()[0] if str(err) else type(err).__name__,
                    self.run_dir,
                )
        from gauntlet.run.pending import keep_history_pending

        try:
            keep_history_pending(self.run_dir, run_id, url, entry)
        except OSError as err:
            log.error("could not keep epoch %d of run %s: %s", epoch, run_id, err)

    def run_id(self) -> str | None:
        if self._run_id is None:
            try:
                manifest = json.loads((self.run_dir / "manifest.json").read_text())
                self._run_id = str(manifest["run_id"])
            except (OSError, ValueError, KeyError, TypeError):
                log.debug("no manifest in %s yet: epoch history not recorded", self.run_dir)
        return self._run_id

    def resolved_url(self) -> str:
        if self._resolved is None:
            from gauntlet.leaderboard.location import resolve_url

            self._resolved = resolve_url(self.url, self.log_dir)
        return self._resolved

    def board(self) -> Any:
        if self._board is None:
            from gauntlet.leaderboard.store import Leaderboard

            # the run's own start already settled what was pending: no second pass here
            self._board = Leaderboard.open(self.resolved_url(), settle=False)
        return self._board

    def close(self) -> None:
        if self._board is not None:
            self._board.close()
            self._board = None

    def state_dict(self) -> dict[str, Any]:
        return {}
