"""The served page in a real headless Chromium: the board, a run's curve, a new run arriving
without a reload, two runs compared, and hostile text shown as text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdp import CHROMIUM, chromium
from gauntlet.leaderboard.store import Leaderboard
from serve_helpers import SCRIPT, add_history, make_store, run, serving

pytest.importorskip("websockets", reason="the browser is driven over its DevTools websocket")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here (Debian: apt-get install chromium; .ci/run does)"
)


@needs_chromium
def test_a_user_opens_the_board_follows_a_run_sees_a_new_one_and_compares(tmp_path: Path):
    make_store(tmp_path)
    with serving(tmp_path) as base, chromium() as browser:
        browser.open(base + "/")
        browser.wait_for("document.querySelectorAll('tr[data-group]').length >= 2")
        groups = browser.evaluate(
            "Array.from(document.querySelectorAll('tr[data-group] td:first-child'))"
            ".map(td => td.textContent)"
        )
        assert "digits_cnn · model.net.dropout=0.1" in groups

        # into a run: its curves are drawn from the store's history
        browser.evaluate("document.querySelector('a[href=\"/runs/a-s1\"]').click()")
        browser.wait_for("document.querySelector('#run-id')?.textContent === 'a-s1'")
        lines = browser.wait_for("document.querySelectorAll('#curves polyline.series').length")
        points = browser.evaluate("document.querySelectorAll('#curves circle.point').length")
        assert lines >= 4 and points == 12  # loss and acc, train and val, three epochs each
        assert browser.evaluate("document.querySelectorAll('#curves polygon.gap').length") == 2

        # back on the board, a run recorded now appears without a reload
        browser.evaluate("history.back()")
        browser.wait_for("document.querySelectorAll('tr[data-run]').length >= 5")
        browser.evaluate("window.stillThisPage = true")
        with Leaderboard.open(f"sqlite:///{tmp_path / 'leaderboard.db'}") as board:
            board.upsert(run("late-run", 0.7, 5, 0.93))
            add_history(board, "late-run", 2)
        browser.wait_for("document.querySelector('tr[data-run=\"late-run\"]') !== null", 20)
        assert browser.evaluate("window.stillThisPage === true")

        # tick two runs and compare them: the key in which they differ is shown
        browser.evaluate(
            "for (const id of ['a-s1', 'b-s1']) {"
            ' document.querySelector(`input.pick[value="${id}"]`).checked = true; }'
            "document.getElementById('compare').click()"
        )
        browser.wait_for("document.getElementById('diff-title') !== null")
        rows = browser.evaluate(
            "Array.from(document.querySelectorAll('tr.difference'))"
            ".map(tr => Array.from(tr.cells).map(td => td.textContent))"
        )
        assert ["config", "model.net.dropout", "0.1000", "0.3000"] in rows
        assert browser.evaluate("document.querySelectorAll('polyline.series').length") >= 2

        # hostile text is text: no element made from it
        browser.open(base + "/runs/evil")
        browser.wait_for("document.querySelector('#run-id')?.textContent === 'evil'")
        assert browser.evaluate("document.querySelectorAll('script').length") == 1
        assert SCRIPT in browser.evaluate("document.body.textContent")

        # a sweep: parallel coordinates with ticks and a colour scale, as wide as the page
        browser.open(base + "/sweeps/drop")
        browser.wait_for("document.querySelector('#parallel-chart') !== null")
        chart = json.loads(
            browser.evaluate(
                "JSON.stringify({trials: document.querySelectorAll('polyline.trial').length,"
                " ticks: document.querySelectorAll('#parallel-chart .tick-label').length,"
                " axes: Array.from(document.querySelectorAll('#parallel-chart text.axis'))"
                ".map(t => t.textContent), scale: !!document.querySelector('.colour-scale'),"
                " width: document.querySelector('#parallel-chart').getAttribute('width') * 1,"
                " page: document.documentElement.clientWidth})"
            )
        )
        assert chart["trials"] == 4 and chart["ticks"] >= 5 and chart["scale"]
        assert chart["axes"] == ["model.net.dropout", "test/acc"]
        assert chart["width"] <= chart["page"]
