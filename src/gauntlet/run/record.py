"""The run record: a run's life from start to end, in one place.

::

    with RunRecord(run_dir, manifest, sink=rows) as record:   # lock, manifest, row: running
        record.update(device="cpu")                      # manifest written again
        record.finish(metrics)                           # completed, metrics merged

On leaving, the record writes the final manifest and leaderboard row whatever happened:
``completed``, ``failed`` (with the reason: a full disk, a diverged loss, a bad value),
``pruned`` (an Optuna trial stopped on purpose) or ``failed`` after SIGTERM or Ctrl-C, with how
to continue. While the run trains a heartbeat refreshes the record, so a run killed by SIGKILL
is found ``lost`` later (:mod:`gauntlet.run.liveness`). Only rank 0 of a distributed run writes.

The start row is written off the run's critical path: the manifest and a pending copy of the row
(:mod:`gauntlet.run.pending`, no database needed) are on disk before the run goes on, and a
thread writes the row (SQLAlchemy's import and the connection, about 0.3 s) while the run builds
and starts training. A run killed before the row arrives is still found: the next command that
opens the leaderboard writes its pending copy. Every later row waits for the start row.

The rows go to ``sink``, any object with ``upsert(row)`` and ``keep_pending(row, reason)``
(:class:`RowSink`): the caller builds it (the leaderboard's
:class:`~gauntlet.leaderboard.record.LeaderboardSink`), so the record knows no database.

Exit codes (:func:`exit_code`): 0 completed, 1 failed, 2 a user error (a bad value, a missing
file: :class:`~gauntlet.errors.GauntletError`), 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from gauntlet.errors import GauntletError, RunFailed
from gauntlet.run.files import describe_os_error, remove_stale_temporaries
from gauntlet.run.liveness import heartbeat_seconds
from gauntlet.run.lock import RunLock
from gauntlet.run.manifest import now_iso, write_manifest

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_SIGTERM = 128 + signal.SIGTERM
# every status a run's record can hold: the leaderboard's --status choices come from here
STATUSES = ("running", "completed", "failed", "requeued", "pruned", "lost")


class RunStopped(SystemExit):
    """A run stopped by SIGTERM or Ctrl-C, recorded: the exit code (143, 130) and the line
    that says how to continue it, which the entry point prints last."""

    def __init__(self, code: int, line: str) -> None:
        super().__init__(code)
        self.line = line


class RowSink(Protocol):
    """Where a run's rows go."""

    def upsert(self, row: Mapping[str, Any], *, quiet: bool = False) -> bool:
        """Write the row (or keep it pending where it cannot be written); whether it was
        written. ``quiet``: a failure is logged at debug level only (heartbeats)."""
        ...

    def keep_pending(self, row: Mapping[str, Any], reason: str) -> None:
        """Keep the row on disk, to be written later; OSError where it cannot be kept."""
        ...


class RunRecord:
    """Owns one run's manifest, row, lock and heartbeat (see the module doc)."""

    def __init__(
        self,
        run_dir: Path,
        manifest: dict[str, Any],
        *,
        sink: RowSink | None = None,
        writer: bool = True,
        previous_metrics: dict[str, Any] | None = None,
    ) -> None:
        self.sink = sink
        self.run_dir = Path(run_dir)
        self.manifest = manifest
        self.writer = writer
        self._previous = dict(previous_metrics or {})
        self._lock = RunLock(run_dir)
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._start_row: threading.Thread | None = None
        self._started = time.perf_counter()
        self._previous_sigterm: Any = None
        self._source: Callable[[], dict[str, float]] | None = None
        self._sigterm = threading.Event()

    # -- the life of a run -------------------------------------------------------------------
    def __enter__(self) -> RunRecord:
        if not self.writer:
            return self
        self._lock.acquire()
        self._catch_sigterm()
        try:
            for directory in (self.run_dir, self.run_dir / "checkpoints"):
                for stale in remove_stale_temporaries(directory):
                    log.warning("removed %s, left by a writer that was killed", stale)
            self._write(row=False)
            self._begin_start_row()
        except BaseException as err:
            self.__exit__(type(err), err, err.__traceback__)
            raise
        self._beat = threading.Thread(target=self._heartbeat, name="gauntlet-heartbeat")
        self._beat.daemon = True
        self._beat.start()
        return self

    def update(self, **fields: Any) -> None:
        """Add fields to the manifest and write it."""
        with self._write_lock:
            self.manifest.update(fields)
        self._write(row=False)

    def measure_with(self, source: Callable[[], dict[str, float]]) -> None:
        """``source()`` gives what the run has measured so far; a run that stops (a signal,
        an error) records it, so no metric it had logged is lost."""
        self._source = source

    def measured(self, metrics: dict[str, Any]) -> None:
        """The metrics of a phase that ended (fit, test, robust), in the manifest at once.
        A SIGTERM that arrived during the phase (Lightning only acts on one inside fit) stops
        the run here."""
        with self._write_lock:
            self.manifest["metrics"] = {**(self.manifest.get("metrics") or {}), **metrics}
        self._write(row=False)
        self._stop_if_signalled()

    def _stop_if_signalled(self) -> None:
        if self._sigterm.is_set():
            from pytorch_lightning.utilities.exceptions import SIGTERMException

            raise SIGTERMException

    def finish(self, metrics: dict[str, Any]) -> None:
        """The run completed: its metrics, merged over what earlier phases (and earlier
        attempts of a resumed run) recorded."""
        self._stop_if_signalled()
        with self._write_lock:
            so_far = self.manifest.get("metrics") or {}
            self.manifest.update(
                status="completed", metrics={**self._previous, **so_far, **metrics}, error=None
            )

    def abandon(self, reason: str, code: int) -> None:
        """End the process now, from any thread, with the run recorded ``failed`` for
        ``reason``: for a main thread that cannot be interrupted (blocked in C++ code)."""
        import os

        with self._write_lock:
            self.manifest.update(
                status="failed",
                error=reason,
                finished=now_iso(),
                duration_s=round(time.perf_counter() - self._started, 3),
                metrics={**self._previous, **(self.manifest.get("metrics") or {})},
            )
        try:
            self._write(row=True)
        finally:
            log.error("run %s: %s", self.manifest.get("run_id"), reason)
            logging.shutdown()
            os._exit(code)

    def _so_far(self) -> dict[str, float]:
        if self._source is None:
            return {}
        try:
            return dict(self._source())
        except Exception as err:  # the record is written whatever the source's state
            log.debug("could not read the metrics of the stopped run: %s", err)
            return {}

    def __exit__(self, kind: Any, err: BaseException | None, tb: Any) -> bool:
        self._stop.set()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if err is not None:
            status, error = describe_failure(err, self.run_dir)
            measured = self._so_far()
            with self._write_lock:
                self.manifest.update(
                    status=status,
                    error=error,
                    metrics={
                        **self._previous,
                        **(self.manifest.get("metrics") or {}),
                        **measured,
                    },
                    **pruned_fields(err),
                )
        with self._write_lock:
            self.manifest.update(
                finished=now_iso(), duration_s=round(time.perf_counter() - self._started, 3)
            )
        if self.writer:
            if self._beat is not None:
                self._beat.join(timeout=5)
            self._wait_for_start_row()
            self._write(row=True)
            self._lock.release()
        stop = stop_code(err)
        line = resume_line(self.run_dir)
        if self.manifest.get("status") == "requeued":
            # a requeued job leaves no result behind: its launcher waits for the restart
            stop, line = EXIT_SIGTERM, str(self.manifest.get("error"))
        if stop is not None:
            raise RunStopped(stop, line) from err
        if isinstance(err, OSError):
            raise RunFailed(self.manifest["error"]) from err
        return False

    def _catch_sigterm(self) -> None:
        """SIGTERM outside Lightning's fit (building, testing) ends the run like one inside it:
        recorded, exit 143. Inside fit Lightning's own handler, which calls this one too,
        stops at the end of the step."""
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if threading.current_thread() is not threading.main_thread():
            return

        def on_sigterm(signum: int, frame: Any) -> None:
            from gauntlet.run.requeue import notice_sigterm

            self._sigterm.set()
            notice_sigterm()
            if signal.getsignal(signal.SIGTERM) is on_sigterm:  # Lightning's is not in place
                raise SIGTERMException

        self._previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)

    # -- writing -----------------------------------------------------------------------------
    def _write(self, row: bool, quiet: bool = False) -> None:
        if not self.writer:
            return
        with self._write_lock:
            snapshot = dict(self.manifest)
        try:
            write_manifest(self.run_dir, snapshot)
        except OSError as err:
            # the row below still carries the state; the manifest may be written later
            log.error("could not write the manifest of run %s: %s", snapshot["run_id"], err)
        if row and self.sink is not None:
            self.sink.upsert(snapshot, quiet=quiet)

    def _begin_start_row(self) -> None:
        """Keep the start row pending on disk, then write it to the sink in a thread."""
        sink = self.sink
        if sink is None:
            return
        with self._write_lock:
            snapshot = dict(self.manifest)
        try:
            sink.keep_pending(snapshot, "the run's start row was being written")
        except OSError as err:  # no pending copy: write the row now, as a run always did
            log.debug("no pending copy of run %s's start row: %s", snapshot["run_id"], err)
            self._write(row=True)
            return

        def write_row() -> None:
            sink.upsert(snapshot)

        self._start_row = threading.Thread(target=write_row, name="gauntlet-start-row")
        self._start_row.daemon = True
        self._start_row.start()

    def _wait_for_start_row(self) -> None:
        """Every later row (heartbeat, end) is written after the start row, never before it."""
        thread = self._start_row
        if thread is not None:
            thread.join()

    def _heartbeat(self) -> None:
        interval = heartbeat_seconds()
        self._wait_for_start_row()
        while not self._stop.wait(interval):
            with self._write_lock:
                self.manifest["heartbeat"] = now_iso()
            self._write(row=True, quiet=True)


def resume_line(run_dir: Path) -> str:
    """How to continue a stopped run: ``continue it with: gauntlet train resume=RUN_DIR``."""
    if (run_dir / "checkpoints" / "last.ckpt").is_file():
        return f"continue it with: gauntlet train resume={run_dir}"
    return "it had not saved a checkpoint yet, so start it again"


def stop_code(err: BaseException | None) -> int | None:
    """143 for a run stopped by SIGTERM, 130 for Ctrl-C (also once Lightning turned it into
    ``exit(1)`` after its graceful shutdown), None for any other end."""
    if err is None or isinstance(err, RunStopped):
        return None
    if isinstance(err, _SIGTERM_TYPES()):
        return EXIT_SIGTERM
    if isinstance(err, KeyboardInterrupt) or (
        isinstance(err, SystemExit) and isinstance(err.__context__, KeyboardInterrupt)
    ):
        return EXIT_INTERRUPTED
    return None


def describe_failure(err: BaseException, run_dir: Path) -> tuple[str, str]:
    """The status and the error message a run that ended with ``err`` is recorded with."""
    from gauntlet.run.requeue import requeued, requeued_reason

    if is_pruned(err):
        return "pruned", f"pruned: {err}"
    if requeued():
        return "requeued", requeued()
    resume = resume_line(run_dir)
    if isinstance(err, _SIGTERM_TYPES()):
        reason = requeued_reason()
        if reason:
            return "requeued", reason
        return "failed", f"stopped by SIGTERM; {resume}"
    if isinstance(err, KeyboardInterrupt) or isinstance(err.__context__, KeyboardInterrupt):
        return "failed", f"interrupted (Ctrl-C); {resume}"
    if isinstance(err, OSError):
        return "failed", describe_os_error(err)
    if isinstance(err, (GauntletError, RunFailed)):
        return "failed", str(err)
    return "failed", f"{type(err).__name__}: {err}"


def exit_code(err: BaseException | None) -> int:
    """The exit code of a command that ended with ``err`` (None: success)."""
    if err is None:
        return EXIT_OK
    if isinstance(err, SystemExit):
        return err.code if isinstance(err.code, int) else EXIT_FAILED
    if isinstance(err, GauntletError) or isinstance(err.__cause__, GauntletError):
        return EXIT_USER_ERROR
    if isinstance(err, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILED


def _SIGTERM_TYPES() -> tuple[type[BaseException], ...]:
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    return (SIGTERMException,)


def pruned_fields(err: BaseException) -> dict[str, Any]:
    """A pruned run's ``epochs``: the epochs it trained before the pruner stopped it."""
    epoch = getattr(err, "epoch", None)
    if not is_pruned(err) or not isinstance(epoch, int):
        return {}
    return {"epochs": epoch + 1}


def is_pruned(err: BaseException) -> bool:
    optuna = sys.modules.get("optuna")  # a trial can only be pruned where optuna runs it
    return optuna is not None and isinstance(err, optuna.TrialPruned)
