"""What the served pages and the JSON API show, built from the store with the leaderboard's own
grouping (:func:`~gauntlet.leaderboard.aggregate.aggregate`), report records and run diff.

Every answer passes through :func:`gauntlet.redaction.scrub_secrets` before it leaves, and
non-finite numbers become null (strict JSON)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.aggregate import DEFAULT_GROUP_BY, aggregate, best_per_task, sort_items
from gauntlet.leaderboard.identity import flat_items, training_config
from gauntlet.leaderboard.query import parse_where
from gauntlet.leaderboard.report import finite
from gauntlet.leaderboard.store import Leaderboard
from gauntlet.redaction import redact_text, scrub_secrets
from gauntlet.run.labels import smoke_reasons

log = logging.getLogger(__name__)

DEFAULT_METRIC = "test/acc"
PAGE_LIMIT = 200
REFRESH_S = 2.0  # the most a page's data may lag the store
MAX_ANSWERS = 256
MAX_LIMIT = 2000
SUMMARY_FIELDS = (
    "run_id",
    "status",
    "experiment",
    "model",
    "data",
    "seed",
    "study",
    "sweep",
    "started",
    "finished",
    "duration_s",
    "config_key",
    "host",
    "user",
)


class NotFound(LookupError):
    """An unknown run, study or sweep: the server answers 404 with this message."""


def clean(value: Any) -> Any:
    """What may leave the server: secrets masked, strict JSON numbers."""
    return finite(scrub_secrets(value))


def display_status(run: Mapping[str, Any], now: dt.datetime | None = None) -> str:
    """The status to show: a ``running`` run whose process is gone shows ``lost`` (the server
    writes nothing; the next command that opens the store records it)."""
    from gauntlet.run.liveness import lost_reason

    status = str(run.get("status") or "unknown")
    if status == "running" and lost_reason(run, now) is not None:
        return "lost"
    return status


def heartbeat_age(run: Mapping[str, Any], now: dt.datetime | None = None) -> float | None:
    beat = run.get("heartbeat")
    if not beat:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(beat).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return round((now - moment).total_seconds(), 1)


def summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run as a list shows it."""
    out = {field: run.get(field) for field in SUMMARY_FIELDS}
    out["status"] = display_status(run)
    out["heartbeat_age_s"] = heartbeat_age(run) if run.get("status") == "running" else None
    out["metrics"] = run.get("metrics") or {}
    out["smoke"] = smoke_reasons(run)
    return out


class Views:
    """The store as the pages see it. Queries of all runs are cached until the store changes
    (a new run, a new status, a finished run), so that many clients cost one query."""

    def __init__(self, board: Leaderboard, refresh_s: float = REFRESH_S) -> None:
        self.board = board
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._cache: tuple[Any, float, list[dict[str, Any]]] | None = None
        self._by_id: dict[str, dict[str, Any]] = {}
        self._answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self._computing: set[tuple[str, str]] = set()
        self._labels: dict[Any, Any] = {}
        self._generation = 0
        self._checked = 0.0
        self._reloading = False

    # -- runs ------------------------------------------------------------------------------
    def all_runs(self) -> list[dict[str, Any]]:
        """Every run. Read once synchronously; after that, when the store has moved (checked
        at most every ``refresh_s``), read again in the background while requests are
        answered from the last reading, so that a board many runs write to stays quick."""
        now = time.monotonic()
        with self._lock:
            cache = self._cache
            checked = self._checked
        if cache is None:
            self._reload()
        elif now - checked >= self.refresh_s:
            with self._lock:
                self._checked = now
            if self.board.stamp() != cache[0]:
                self._reload_in_background()
        with self._lock:
            assert self._cache is not None
            cached = self._cache[2]
        # running runs are read afresh: their heartbeats say whether they still run
        running = {r["run_id"]: r for r in self.board.runs(status="running")}
        return [running.get(r["run_id"], r) for r in cached]

    def _get(self, run_id: str) -> dict[str, Any] | None:
        # masked on the way in, so that no view (a diff flattens keys) can show a secret
        row = self.board.get(run_id)
        return None if row is None else scrub_secrets(row)

    def _reload(self) -> None:
        """Read what changed since the last reading (runs started or ended since, and those
        that were running), or everything when that cannot account for the store's count."""
        stamp = self.board.stamp()
        # rows were masked when written; what leaves the server is masked again by clean()
        with self._lock:
            previous = self._cache[0] if self._cache is not None else None
            by_id = dict(self._by_id)
        if previous is None:
            by_id = {row["run_id"]: row for row in self.board.runs()}
        else:
            running = [i for i, row in by_id.items() if row.get("status") == "running"]
            for row in self.board.runs_changed(previous[1], previous[2], running):
                by_id[row["run_id"]] = row
            if len(by_id) != stamp[0]:  # a row arrived with old times (an import): read all
                by_id = {row["run_id"]: row for row in self.board.runs()}
        rows = sorted(by_id.values(), key=_newest_first)
        with self._lock:
            self._cache = (stamp, time.monotonic(), rows)
            self._by_id = by_id
            self._generation += 1

    def _reload_in_background(self) -> None:
        with self._lock:
            if self._reloading:
                return
            self._reloading = True

        def work() -> None:
            try:
                self._reload()
                for kind, key in list(self._answers):  # ready before the pages ask again
                    self._recompute(kind, key)
            except Exception:  # the next check tries again; the last reading stays served
                log.exception("could not read the leaderboard again")
            finally:
                with self._lock:
                    self._reloading = False

        threading.Thread(target=work, name="gauntlet-serve-reload", daemon=True).start()

    def stamp(self) -> dict[str, Any]:
        """What changes when the pages should redraw: the state of the store the views now
        serve (read again here when it moved, at most every ``refresh_s``), and the shown
        status of each running run (one whose process died turns ``lost``)."""
        self.all_runs()
        with self._lock:
            stamp = self._cache[0] if self._cache is not None else None
        running = self.board.runs(status="running")
        return clean(
            {
                "store": [str(part) for part in stamp or ()],
                "running": sorted(f"{r['run_id']}:{display_status(r)}" for r in running),
            }
        )

    def select(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The runs a query names, filtered as ``gauntlet leaderboard`` filters: by status
        (default: completed, full runs; ``all=1`` every run), experiment, model, data, study,
        sweep, ``where=KEY=VALUE`` and a free-text ``q``."""
        rows = self.all_runs()
        everything = _truthy(params.get("all"))
        statuses = _list(params.get("status"))
        if statuses:
            rows = [r for r in rows if display_status(r) in statuses]
        elif not everything:
            rows = [r for r in rows if r.get("status") == "completed"]
        if not everything:
            rows = [r for r in rows if not smoke_reasons(r)]
        for name in ("experiment", "model", "data", "study", "sweep", "config_key"):
            wanted = _list(params.get(name))
            if wanted:
                rows = [r for r in rows if str(r.get(name)) in wanted]
        conditions = parse_where(_list(params.get("where")))
        rows = [r for r in rows if all(c.matches(r) for c in conditions)]
        text = str(params.get("q") or "").strip().lower()
        if text:
            rows = [r for r in rows if text in _haystack(r)]
        return rows

    def runs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._memo("runs", params)

    def _listed(self, rows: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        metric = (_list(params.get("metric")) or [DEFAULT_METRIC])[0]
        if params.get("sort"):
            rows = list(sort_items(rows, str(params["sort"]), _truthy(params.get("ascending"))))
        offset, limit = _page(params)
        return clean(
            {
                "total": len(rows),
                "offset": offset,
                "limit": limit,
                "metric": metric,
                "items": [summary(r) for r in rows[offset : offset + limit]],
            }
        )

    def _memo(self, kind: str, params: Mapping[str, Any]) -> Any:
        """An answer from the last reading: computed once per query, then served as it was
        while a fresher one is computed in the background (one at a time per query)."""
        # a repeated parameter stays a list (a --where value may hold a comma)
        key = (kind, json.dumps(sorted((k, _plain(v)) for k, v in params.items())))
        with self._lock:
            hit = self._answers.get(key)
        if hit is None:
            return self._recompute(kind, key[1])
        if hit[0] != self._generation:
            threading.Thread(target=self._recompute, args=(kind, key[1]), daemon=True).start()
        return hit[1]

    def _recompute(self, kind: str, key: str) -> Any:
        with self._lock:
            if (kind, key) in self._computing and (kind, key) in self._answers:
                return self._answers[(kind, key)][1]
            self._computing.add((kind, key))
            generation = self._generation
        try:
            params = dict(json.loads(key))
            rows = self.select(params)
            answer = self._grouped(rows, params) if kind == "groups" else self._listed(rows, params)
            with self._lock:
                if len(self._answers) > MAX_ANSWERS:
                    self._answers.clear()
                self._answers[(kind, key)] = (generation, answer)
            return answer
        finally:
            with self._lock:
                self._computing.discard((kind, key))

    def groups(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._memo("groups", params)

    def tasks(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per task (dataset x metric), each model's best group of the board the same
        ``params`` give, ranked; ``index`` is the group's place on that board. A group with
        fewer runs than ``min_seeds`` (default 1) is marked ``few_seeds``, not hidden."""
        rows = self.select(params)
        metrics = _list(params.get("metric")) or [DEFAULT_METRIC]
        group_by = _list(params.get("group_by")) or list(DEFAULT_GROUP_BY)
        ascending = _truthy(params.get("ascending"))
        groups = aggregate(rows, group_by, metrics, labels=self._labels)
        groups = list(sort_items(groups, str(params.get("sort") or metrics[0]), ascending))
        try:
            min_seeds = int(params.get("min_seeds") or 1)
        except ValueError:
            raise GauntletError("min_seeds takes a whole number, e.g. ?min_seeds=3") from None
        tasks = best_per_task(groups, rows, metrics, ascending=ascending, min_seeds=min_seeds)
        for task in tasks:
            for entry in task["entries"]:
                entry["label"] = redact_text(str(entry["label"]))
                entry["stats"] = {k: v for k, v in entry["stats"].items() if k != "values"}
        return clean(tasks)

    def _grouped(self, rows: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        metrics = _list(params.get("metric")) or [DEFAULT_METRIC]
        group_by = _list(params.get("group_by")) or list(DEFAULT_GROUP_BY)
        groups = aggregate(rows, group_by, metrics, labels=self._labels)
        sort = str(params.get("sort") or metrics[0])
        groups = list(sort_items(groups, sort, _truthy(params.get("ascending"))))
        offset, limit = _page(params)
        items = []
        for group in groups[offset : offset + limit]:
            items.append(
                {
                    "label": redact_text(group["label"]),
                    "key": group["group"].get("config_key"),
                    "group": group["group"],
                    "n": group["n"],
                    "run_ids": group["run_ids"],
                    "metrics": {
                        m: {k: v for k, v in stats.items() if k != "values"}
                        for m, stats in group["metrics"].items()
                    },
                }
            )
        return clean(
            {
                "source": self.board.url,
                "total": len(groups),
                "runs": len(rows),
                "offset": offset,
                "limit": limit,
                "metrics": metrics,
                "group_by": group_by,
                "items": items,
            }
        )

    def run(self, run_id: str) -> dict[str, Any]:
        row = self._get(run_id)
        if row is None:
            raise NotFound(f"no run {run_id!r} in this leaderboard")
        out = dict(row)
        out["status"] = display_status(row)
        out["recorded_status"] = row.get("status")
        out["heartbeat_age_s"] = heartbeat_age(row)
        out["epochs_recorded"] = self.board.history_lengths([run_id]).get(run_id, 0)
        out["commands"] = {
            "reproduce": f"gauntlet reproduce {run_id}",
            "diff": f"gauntlet diff {run_id} OTHER_RUN_ID",
        }
        out["checkpoints"] = {
            "where": f"{row.get('run_dir')}/checkpoints" if row.get("run_dir") else None,
            "host": row.get("host"),
        }
        return clean(out)

    def history(self, run_id: str) -> dict[str, Any]:
        if self._get(run_id) is None:
            raise NotFound(f"no run {run_id!r} in this leaderboard")
        return clean({"run_id": run_id, "epochs": self.board.history(run_id)})

    def group(self, key: str, params: Mapping[str, Any]) -> dict[str, Any]:
        rows = [r for r in self.all_runs() if r.get("config_key") == key]
        if not rows:
            raise NotFound(f"no group {key!r} in this leaderboard")
        metrics = _list(params.get("metric")) or [DEFAULT_METRIC]
        (group,) = aggregate(rows, ["config_key"], metrics)
        return clean(
            {
                "key": key,
                "label": group["label"],
                "n": group["n"],
                "metrics": group["metrics"],
                "runs": [summary(r) for r in rows],
            }
        )

    def diff(self, run_ids: Sequence[str]) -> dict[str, Any]:
        from gauntlet.repro.diff import diff

        if len(run_ids) < 2:
            raise GauntletError("diff: give two or more run ids, e.g. /api/diff?runs=A,B")
        manifests = []
        for run_id in run_ids:
            row = self._get(run_id)
            if row is None:
                raise NotFound(f"no run {run_id!r} in this leaderboard")
            manifests.append(row)
        return clean(diff(manifests).payload())

    def sweep(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A sweep's runs and the parameters that vary among them (only those)."""
        rows = [r for r in self.all_runs() if str(r.get("sweep")) == name]
        if not rows:
            raise NotFound(f"no sweep {name!r} in this leaderboard")
        metric = str(params.get("metric") or DEFAULT_METRIC)
        flats = [flat_items(training_config(r.get("config"))) for r in rows]
        keys = sorted({k for flat in flats for k in flat})
        varying = [
            k
            for k in keys
            if len({repr(flat.get(k)) for flat in flats}) > 1
            and not any(isinstance(flat.get(k), (dict, list)) for flat in flats)
        ]
        return clean(
            {
                "name": name,
                "metric": metric,
                "parameters": varying,
                "runs": [
                    {
                        "run_id": r.get("run_id"),
                        "status": display_status(r),
                        "values": {k: flat.get(k) for k in varying},
                        "metric": (r.get("metrics") or {}).get(metric),
                    }
                    for r, flat in zip(rows, flats, strict=True)
                ],
            }
        )

    def sweeps(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for row in self.all_runs():
            if row.get("sweep"):
                counts[str(row["sweep"])] = counts.get(str(row["sweep"]), 0) + 1
        return clean([{"name": k, "runs": n} for k, n in sorted(counts.items())])

    def studies(self) -> list[dict[str, Any]]:
        return clean(
            [
                {
                    "name": s["name"],
                    "plan_hash": s["plan_hash"],
                    "updated": s["updated"],
                    "host": s["host"],
                    "verdicts": [c.get("verdict") for c in (s["results"] or {}).get("claims", [])],
                }
                for s in self.board.studies()
            ]
        )

    def study(self, name: str) -> dict[str, Any]:
        found = self.board.studies(name)
        if not found:
            raise NotFound(f"no study {name!r} in this leaderboard")
        return clean(found[0])


def _newest_first(run: Mapping[str, Any]) -> tuple[int, str, str]:
    started = run.get("started")
    # newest first, runs without a start last, then by id (the store's own order)
    return (1, "", run["run_id"]) if not started else (0, _reverse(started), run["run_id"])


def _reverse(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def _haystack(run: Mapping[str, Any]) -> str:
    parts = [str(run.get(f) or "") for f in ("run_id", "experiment", "model", "data", "sweep")]
    parts += [str(item) for item in run.get("overrides") or []]
    parts += [str(tag) for tag in run.get("tags") or []]
    return " ".join(parts).lower()


def _plain(value: Any) -> Any:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value)


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


def _truthy(value: Any) -> bool:
    return str(value or "").lower() in ("1", "true", "yes", "on")


def _page(params: Mapping[str, Any]) -> tuple[int, int]:
    try:
        offset = max(0, int(params.get("offset") or 0))
        limit = int(params.get("limit") or PAGE_LIMIT)
    except ValueError:
        raise GauntletError(
            "offset and limit take whole numbers, e.g. ?offset=0&limit=50"
        ) from None
    return offset, max(1, min(limit, MAX_LIMIT))
