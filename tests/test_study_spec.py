"""Study files, the claims language and the launch plan, without training anything."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gauntlet.errors import GauntletError
from gauntlet.study.claims import FAIL, NO_DATA, PASS, evaluate
from gauntlet.study.overrides import identity
from gauntlet.study.runner import cover, plan
from gauntlet.study.spec import hydra_value, load_study

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GRID = """
name: s
base: digits_cnn
grid:
  data.fraction: [0.1, 1.0]
  augment: [none, strong]
seeds: [1, 2]
"""


def row(run_id, fraction, augment, seed, **metrics):
    """A run as the leaderboard returns it, labelled with its cell the way the runner does."""
    return {
        "run_id": run_id,
        "seed": seed,
        "data.fraction": fraction,
        "augment": augment,
        "config": {"data": {"fraction": fraction}},
        "metrics": metrics,
    }


def test_every_shipped_study_reads(tmp_path):
    files = sorted((REPO / "experiments").glob("*.yaml"))
    names = {path.stem for path in files}
    assert {
        "architectures",
        "data_scarcity",
        "overfitting",
        "compute",
        "interpretability",
        "robustness",
    } <= names
    for path in files:
        study = load_study(path)
        assert study.name == path.stem
        assert study.claims, f"{path.name} checks nothing"
        assert study.plots, f"{path.name} draws nothing"
        for quick in (False, True):
            jobs = plan(study, quick=quick, log_dir=tmp_path)
            assert len({job.ident for job in jobs}) == len(jobs)


# what each shipped study holds: its axes, cells, seeds, plots, claims and post steps
SHIPPED = {
    "architectures": (["arch"], 8, (1, 2, 3), 2, 6, 0),
    "compute": (
        ["trainer.precision", "trainer.accumulate_grad_batches", "model.compile"],
        8,
        (1, 2),
        2,
        3,
        0,
    ),
    "data_scarcity": (["data.fraction", "augment"], 10, (1, 2, 3), 2, 3, 0),
    "data_scarcity_synthetic": (["data.fraction", "synthesize", "augment"], 18, (1, 2, 3), 2, 4, 0),
    "interpretability": (["arch"], 3, (1, 2), 1, 2, 4),
    "listops": (["experiment"], 3, (1, 2, 3), 1, 3, 0),
    "overfitting": (["regularization"], 7, (1, 2, 3), 2, 3, 0),
    "robustness": (["robust", "model.adversarial.attack"], 4, (1, 2, 3), 2, 4, 1),
    "scaling": (["experiment", "size"], 24, (1, 2, 3), 2, 2, 0),
    "transfer": (["experiment", "model.adversarial.attack"], 6, (1, 2, 3), 1, 12, 4),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_study_holds_its_grid_plots_and_claims(name):
    study = load_study(REPO / "experiments" / f"{name}.yaml")
    axes, cells, seeds, plots, claims, post = SHIPPED[name]
    assert study.name == name
    assert [axis.name for axis in study.axes] == axes
    assert len(study.cells()) == cells and study.seeds == seeds
    assert (len(study.plots), len(study.claims), len(study.post)) == (plots, claims, post)
    assert study.statistics.as_dict()["level"] == 0.05


def test_grid_is_the_product_of_the_axes_times_seeds(tmp_path):
    study = load_study(write(tmp_path, GRID))
    jobs = plan(study, log_dir=tmp_path)
    assert len(jobs) == 8
    assert [job.cell.labels for job in jobs[:2]] == [{"data.fraction": 0.1, "augment": "none"}] * 2
    assert [job.seed for job in jobs[:2]] == [1, 2]
    first = jobs[0].overrides
    assert "study=s" in first and "experiment=digits_cnn" in first and "seed=1" in first
    assert "data.fraction=0.1" in first and "augment=none" in first
    # the whole grid is one multirun
    (product,) = cover(jobs)
    assert product == {
        "data.fraction": ["0.1", "1.0"],
        "augment": ["none", "strong"],
        "seed": ["1", "2"],
    }


def test_a_grid_with_holes_becomes_products_that_cover_it_exactly(tmp_path):
    jobs = plan(load_study(write(tmp_path, GRID)), log_dir=tmp_path)
    todo = [jobs[i] for i in (1, 2, 3, 5, 7)]  # seeds done for some cells only
    products = cover(todo)
    expanded = set()
    for product in products:
        keys = list(product)
        import itertools

        for values in itertools.product(*product.values()):
            expanded.add(tuple(zip(keys, values, strict=True)))
    assert expanded == {tuple(job.settings) for job in todo}
    assert len(products) < len(todo)


def test_named_levels_and_quick_overrides(tmp_path):
    study = load_study(
        write(
            tmp_path,
            """
            name: reg
            base: digits_cnn
            overrides: [model.net.dropout=0.0, trainer.max_epochs=50]
            grid:
              regularization:
                none: {}
                dropout: {model.net.dropout: 0.3}
                long: {trainer.max_epochs: 80}
            seeds: [1, 2, 3]
            quick: {overrides: [trainer.limit_train_batches=1]}
            """,
        )
    )
    jobs = plan(study, log_dir=tmp_path)
    none, dropout = jobs[0].overrides, jobs[3].overrides
    assert "model.net.dropout=0.0" in none and "model.net.dropout=0.3" in dropout
    assert "model.net.dropout=0.0" not in dropout
    # quick: the first seed; the quick epochs win over the level's; the two then coincide
    with pytest.raises(GauntletError, match="run the same overrides"):
        plan(study, quick=True, log_dir=tmp_path)


def test_quick_mode_uses_one_seed_and_short_runs(tmp_path):
    jobs = plan(load_study(write(tmp_path, GRID)), quick=True, log_dir=tmp_path)
    assert len(jobs) == 4 and {job.seed for job in jobs} == {1}
    assert "trainer.max_epochs=1" in jobs[0].overrides and "logger=csv" in jobs[0].overrides


def test_a_recorded_run_matches_whatever_the_spelling_and_placement():
    planned = ["study=s", "data.fraction=0.1", "trainer.enable_progress_bar=false", "seed=1"]
    recorded = [
        "paths.log_dir=/elsewhere",
        "launcher=joblib",
        "study=s",
        "data.fraction=0.10",
        "trainer.enable_progress_bar=False",
        "seed=1",
    ]
    assert identity(planned) == identity(recorded)
    assert identity(planned) != identity([*recorded[:-1], "seed=2"])
    assert identity(planned) != identity([*recorded, "trainer.max_epochs=1"])


@pytest.mark.parametrize(
    "value", ["strong", "1.0", "a b", "it's", "a,b", None, True, 0.1, 3, [0, 0.05], {"a": 1}]
)
def test_override_values_read_back_as_written(value):
    from gauntlet.study.overrides import parse_one

    assert parse_one(f"k={hydra_value(value)}") == ("k", value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid: {augment: strong}\n", "grid.augment: expected a list of values"),
        ("seeds: []\n", "seeds: expected a non-empty list"),
        ("colour: red\n", "colour: not a study key"),
        ("grid: {augment: [none]}\nplots: [{x: fraction, y: test/acc}]\n", "not an axis"),
        (
            "grid: {augment: [none, strong]}\nclaims: [{metric: test/acc, op: '>', value: 1,"
            " where: {augment: light}}]\n",
            "claims[0].where.augment: 'light' is not a level of that axis; levels: none, strong",
        ),
        ("claims: [{metric: test/acc, op: '=>', value: 1}]\n", "claims[0].op"),
        ("claims: [{metric: test/acc, op: '>'}]\n", "exactly one of value"),
        ("claims: [{metric: 'acc@{eps}', op: '>', value: 1}]\n", "names ['eps']"),
        ("claims: [{metric: test/acc, op: '~=', value: 1}]\n", "needs a tolerance"),
        ("post: [{command: train seed=1, metrics: [x]}]\n", "choose explain, attack, eval"),
        ("overrides: ['seed=1,2']\n", "is a sweep"),
        ("overrides: ['a=[1']\n", "not a Hydra override"),
        (
            "claims: [{metric: test/acc, op: '>', value: 1}, {metric: m, colour: red}]\n",
            "claims[1].colour: not a claim key; valid: name, metric, where,",
        ),
        ("claims: [{op: '>', value: 1}]\n", "claims[0].metric: not given; expected a metric name"),
        (
            "claims: [{metric: m, op: '>', than: {metric: m, where: {a: 1}, tol: 1}}]\n",
            "claims[0].than.tol: valid keys: metric, where (or use value:)",
        ),
        ("claims: [{metric: m, op: '>', value: high}]\n", "claims[0].value: expected a number"),
        (
            "grid: {augment: [none]}\nplots: [{x: augment, y: test/acc, logx: maybe}]\n",
            "plots[0].logx: expected true or false, got 'maybe'",
        ),
        ("plots: {x: augment}\n", "plots: expected a list of mappings with the keys name,"),
        ("quick: {seeds: [1, 1]}\n", "quick.seeds: expected a non-empty list of different"),
        ("post: [{command: explain}]\n", "post[0].metrics: not given; expected the metrics"),
        ("description: [a, b]\n", "description: expected a string, got ['a', 'b']"),
    ],
)
def test_mistakes_in_a_study_file_name_the_key(tmp_path, text, message):
    path = write(tmp_path, text, name="bad.yaml")
    with pytest.raises(GauntletError) as err:
        load_study(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_interpolations_reach_the_runs_unresolved(tmp_path):
    study = load_study(
        write(
            tmp_path,
            """
            overrides: ["paths.log_dir=${oc.env:HOME}"]
            grid: {where: {home: {data.root: "${paths.log_dir}/data"}, here: {}}}
            post: [{command: "eval ckpt_path={ckpt} tag=${now:%Y}", metrics: [test/acc]}]
            """,
        )
    )
    assert study.overrides == ("paths.log_dir=${oc.env:HOME}",)
    assert study.cells()[0].overrides == ("data.root=${paths.log_dir}/data",)
    assert study.post[0].command == "eval ckpt_path={ckpt} tag=${now:%Y}"


@pytest.mark.integration
def test_the_study_command_names_a_misspelt_key_without_a_traceback(tmp_path):
    import os
    import subprocess
    import sys

    path = write(tmp_path, GRID + "claims: [{metric: test/acc, op: '>', value: 0.5, tole: 0.1}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "gauntlet", "study", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        env={**os.environ, "GAUNTLET_LEADERBOARD_URL": ""},
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2
    assert f"{path}: claims[0].tole: not a claim key; valid: name, metric," in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_study_file_lists_the_shipped_ones():
    with pytest.raises(GauntletError, match="architectures"):
        load_study(REPO / "experiments" / "nope.yaml")


CLAIMS = """
name: s
grid:
  data.fraction: [0.1, 1.0]
  augment: [none, strong]
claims:
  - {name: helps, metric: test/acc, where: {data.fraction: 0.1, augment: strong},
     op: ">", than: {where: {augment: none}}}
  - {name: ceiling, metric: test/acc, op: ">=", value: 0.9, for_each: data.fraction}
  - {name: curve, metric: test/acc, along: data.fraction, trend: increasing,
     for_each: augment}
  - {name: close, metric: test/acc, where: {data.fraction: 1.0}, op: "~=",
     than: {where: {data.fraction: 0.1}}, tol: 0.05}
  - {name: robust, metric: "r@eps={eps}", along: {eps: [0, 0.1]}, trend: decreasing}
  - {name: nothing, metric: test/f1, op: ">", value: 0}
"""


def test_claims_on_known_numbers(tmp_path):
    study = load_study(write(tmp_path, CLAIMS))
    noise = {1: -0.01, 2: 0.0, 3: 0.012}  # the same seed noise in every cell: paired tests
    cells = {
        (0.1, "none"): {"test/acc": 0.75, "r@eps=0": 0.85, "r@eps=0.1": 0.55},
        (0.1, "strong"): {"test/acc": 0.85},
        (1.0, "none"): {"test/acc": 0.95},
        (1.0, "strong"): {"test/acc": 0.96},
    }
    rows = [
        row(f"{f}-{a}-{seed}", f, a, seed, **{k: v + e for k, v in metrics.items()})
        for (f, a), metrics in cells.items()
        for seed, e in noise.items()
    ]
    results = {r.name: r for r in evaluate(study, rows)}
    helps = results["helps"]
    assert helps.verdict == PASS
    assert helps.details["left"]["mean"] == pytest.approx(0.85 + 0.002 / 3)
    assert helps.details["right"]["mean"] == pytest.approx(0.75 + 0.002 / 3)
    assert helps.details["right"]["n"] == 3
    assert helps.details["difference"] == pytest.approx(0.10)
    assert "0.8507" in helps.numbers and "0.7507" in helps.numbers
    # for_each: one check per level
    assert results["ceiling [data.fraction=0.1]"].verdict == FAIL
    assert results["ceiling [data.fraction=1]"].verdict == PASS
    assert results["curve [augment=none]"].verdict == PASS
    assert results["curve [augment=strong]"].verdict == PASS
    assert results["close"].verdict == FAIL  # 0.955 vs 0.80: not within 0.05
    assert results["robust"].verdict == PASS  # 0.85 -> 0.55
    assert results["nothing"].verdict == NO_DATA
    assert not results["nothing"].passed


def test_a_trend_that_turns_back_fails(tmp_path):
    study = load_study(write(tmp_path, CLAIMS))
    rows = [
        row("a", 0.1, "none", 1, **{"r@eps=0": 0.5, "r@eps=0.1": 0.7}),
        row("b", 0.1, "none", 2, **{"r@eps=0": 0.52, "r@eps=0.1": 0.71}),
        row("c", 0.1, "none", 3, **{"r@eps=0": 0.49, "r@eps=0.1": 0.72}),
    ]
    results = {r.name: r for r in evaluate(study, rows)}
    assert results["robust"].verdict == FAIL
    assert "0: 0.5033" in results["robust"].numbers


def test_post_steps_fill_in_the_run_and_skip_what_is_recorded(tmp_path):
    from gauntlet.study.runner import _wanted, post_command

    study = load_study(
        write(
            tmp_path,
            """
            grid: {robust: [fgsm, pgd]}
            post:
              - command: attack ckpt_path={ckpt} attack={robust} eps=[0,0.1] seed={seed}
                metrics: [robust/acc@eps=0.1]
                where: {robust: pgd}
            """,
        )
    )
    (step,) = study.post
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
    row = {"run_id": "r1", "run_dir": str(run_dir), "seed": 3, "metrics": {"test/acc": 0.9}}
    assert post_command(step, row, {"robust": "pgd"}) == [
        "attack",
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
        "attack=pgd",
        "eps=[0,0.1]",
        "seed=3",
    ]
    assert _wanted(step, row, {"robust": "pgd"})
    assert not _wanted(step, row, {"robust": "fgsm"})  # where: pgd only
    done = {**row, "metrics": {"robust/acc@eps=0.1": 0.5}}
    assert not _wanted(step, done, {"robust": "pgd"})  # already recorded: not rerun
    (run_dir / "checkpoints" / "last.ckpt").unlink()
    with pytest.raises(GauntletError, match=r"no checkpoints/best\.ckpt or last\.ckpt"):
        post_command(step, row, {"robust": "pgd"})
