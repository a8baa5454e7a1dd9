"""Redaction by class: every shape of secret, in every form text carries one, reaches no sink.

Two layers. The rule itself is tried on every (shape or form) x (container it travels in): a
config tree, a list of command-line arguments, an override string, YAML, JSON and Python text,
a log line. Then the commands a user runs (``train``, a multirun, ``leaderboard`` exports,
``diff``, ``study``, ``eval``, ``explain``, ``attack``, ``reproduce``) are run with every planted
value at once, and every byte each writes (run directories, Hydra files, checkpoints, the wandb
run, the database, exports, logs) and prints is searched for every marker.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from faults import QUICK

# (case, override, markers): a secret key's value of every shape...
SHAPES = [
    ("string", "+db_password=S3CA-str", ["S3CA-str"]),
    ("integer", "+pin_token=731000000001", ["731000000001"]),
    ("float", "+svc.api_key=0.731000000002", ["731000000002"]),
    ("list", "+vault.passwords=[S3CA-l1,S3CA-l2]", ["S3CA-l1", "S3CA-l2"]),
    ("mapping", "+db.credentials={user: S3CA-d1, pw: S3CA-d2}", ["S3CA-d1", "S3CA-d2"]),
    ("nested", "+GITHUB_TOKEN={a: [S3CA-n1, {b: S3CA-n2}]}", ["S3CA-n1", "S3CA-n2"]),
    ("camel case key", "+clientSecret=S3CA-camel", ["S3CA-camel"]),
]
# ... and a secret inside the value of an ordinary key, in each form text carries one
FORMS = [
    ("connection string", "+dsn='host=db password=S3CB-conn user=bob'", ["S3CB-conn"]),
    ("bearer header", "+header='Authorization: Bearer S3CB-bearer'", ["S3CB-bearer"]),
    ("flag in a string", "+cmdline='tool --password S3CB-flag --verbose'", ["S3CB-flag"]),
    ("URL password", "+endpoint='https://bob:S3CB-url@example.com/x'", ["S3CB-url"]),
    ("URL token user", "+mirror='https://S3CB-urltok@example.com/x'", ["S3CB-urltok"]),
    ("URL query", "+link='https://example.com/?access_token=S3CB-query&p=1'", ["S3CB-query"]),
    ("cookie header", "+cookie_note='Cookie: session=S3CB-cookie'", ["S3CB-cookie"]),
]
PLANTED = SHAPES + FORMS
MARKERS = [m for _, _, markers in PLANTED for m in markers]


# -- the rule, on every container ---------------------------------------------------------------

SECRET_VALUES = {
    "string": "S3CR-s",
    "integer": 731000000003,
    "float": 0.731000000004,
    "list": ["S3CR-l1", 731000000005],
    "mapping": {"user": "S3CR-m1", "deep": {"x": "S3CR-m2"}},
    "list of mappings": [{"a": "S3CR-lm"}],
}
SECRET_KEYS = ["password", "db_password", "apiKey", "GITHUB_TOKEN", "x-api-key", "passphrase"]
TEXT_FORMS = {
    "connection string": "host=db password={v} user=bob",
    "bearer header": "Authorization: Bearer {v}",
    "basic header": "Authorization: Basic {v}",
    "flag": "tool --password {v} --verbose",
    "flag with =": "tool --api-key={v}",
    "URL password": "postgresql+psycopg://bob:{v}@db:5432/team",
    "URL token user": "https://{v}@github.com/org/repo.git",
    "URL query": "https://example.com/?token={v}&page=2",
    "JSON in a string": '{{"password": "{v}", "user": "bob"}}',
    "Python repr": "{{'secret': '{v}', 'n': 1}}",
    "override list": "+password=[{v},other]",
    "override mapping": "+db.password={{a: {v}, b: 2}}",
    "sweep": "+token={v},{v}2",
    "YAML block list": "password:\n- {v}\n- x\nother: 1\n",
    "YAML block mapping": "db:\n  secret:\n    a: {v}\n  user: bob\n",
}


@pytest.mark.parametrize("key", SECRET_KEYS)
@pytest.mark.parametrize("shape", list(SECRET_VALUES))
@pytest.mark.parametrize("container", ["tree", "override", "yaml", "json", "log line"])
def test_a_credential_keys_value_of_any_shape_is_masked_in_any_container(key, shape, container):
    import logging

    from gauntlet.redaction import redact_log_records, redact_text, scrub_secrets

    value = SECRET_VALUES[shape]
    tree = {"outer": {key: value, "kept": 5}}
    if container == "tree":
        out = json.dumps(scrub_secrets(tree))
    elif container == "override":
        out = redact_text(f"gauntlet train +outer.{key}={json.dumps(value)} seed=1")
    elif container == "yaml":
        out = redact_text(yaml.safe_dump(tree, default_flow_style=False))
    elif container == "json":
        out = redact_text(json.dumps(tree))
    else:
        redact_log_records()
        record = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, "%s", (tree,), None)
        out = record.getMessage()
    leaves = [v for v in _leaves(value)]
    assert leaves and not [v for v in leaves if str(v).removeprefix("0.") in out], out
    if container in ("tree", "yaml", "json"):
        assert "kept" in out and "5" in out


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


@pytest.mark.parametrize("form", list(TEXT_FORMS))
@pytest.mark.parametrize(
    "container", ["plain", "tree value", "argv item", "yaml", "json", "python repr"]
)
def test_a_secret_inside_a_string_is_masked_in_every_form_and_container(form, container):
    from gauntlet.redaction import redact_text, scrub_secrets

    if form.startswith("YAML") and container in ("yaml", "json", "python repr"):
        pytest.skip("a YAML block escaped inside another string's quotes is not recognised")
    marker = "S3CT-" + form.replace(" ", "-")
    text = TEXT_FORMS[form].format(v=marker)
    if container == "plain":
        out = redact_text(text)
    elif container == "tree value":
        out = json.dumps(scrub_secrets({"note": text}))
    elif container == "argv item":
        out = json.dumps(scrub_secrets(["gauntlet", "train", f"+note={text}"]))
    elif container == "yaml":
        out = redact_text(yaml.safe_dump({"note": text}))
    elif container == "json":
        out = redact_text(json.dumps({"note": text}))
    else:
        out = redact_text(repr(["gauntlet", f"+note={text}"]))
    assert marker not in out, out


def test_a_flag_and_its_value_as_two_arguments_are_masked():
    from gauntlet.redaction import scrub_secrets

    argv = ["tool", "--password", "S3CT-argv", "--db-token", "S3CT-argv2", "--epochs", "3"]
    assert scrub_secrets(argv) == [
        "tool",
        "--password",
        "***",
        "--db-token",
        "***",
        "--epochs",
        "3",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "pad_token=x max_tokens=5 tokenizer=bpe",
        "epochs: 3, lr: 0.1",
        "https://example.com/path?page=2",
        "author=bob",
        "val/acc=0.91 test/acc=0.90",
    ],
)
def test_text_without_a_secret_is_left_as_it_is(text):
    from gauntlet.redaction import redact_text

    assert redact_text(text) == text


# -- every command, every byte it writes and prints ---------------------------------------------


def every_byte(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def leaks(root: Path, printed: str) -> dict[str, list[str]]:
    """{file or "console": markers found there}."""
    found: dict[str, list[str]] = {}
    sinks = {str(p.relative_to(root)): data for p, data in every_byte(root).items()}
    sinks["console"] = printed.encode()
    for name, data in sinks.items():
        hits = [m for m in MARKERS if m.encode() in data]
        if hits:
            found[name] = hits
    return found


def gauntlet(*args: str) -> tuple[int, str]:
    """``gauntlet ARGS`` in this process, with what it printed (and logged) captured."""
    from gauntlet.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue() + err.getvalue()


def spawn(*args: str, cwd: Path | None = None) -> tuple[int, str]:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env["GAUNTLET_NUM_THREADS"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "gauntlet", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """One training run with every planted value, wandb offline included."""
    root = tmp_path_factory.mktemp("planted")
    run_dir = root / "run"
    code, printed = gauntlet(
        "train",
        *QUICK,
        "logger=default",
        "model.net.hidden=16",
        *(override for _, override, _ in PLANTED),
        f"hydra.run.dir={run_dir}",
        f"paths.log_dir={root}",
    )
    assert code == 0, printed
    return root, run_dir, printed


def test_train_writes_and_prints_no_planted_secret(planted_run):
    root, run_dir, printed = planted_run
    assert (run_dir / "wandb").is_dir() and list(run_dir.rglob("*.ckpt"))
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()
    assert leaks(root, printed) == {}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    # every shape is masked as a whole, and the ordinary keys keep their non-secret parts
    assert manifest["config"]["vault"]["passwords"] == "***"
    assert manifest["config"]["db"]["credentials"] == "***"
    assert manifest["config"]["pin_token"] == "***"
    assert manifest["config"]["dsn"] == "host=db password=*** user=bob"


@pytest.mark.integration
def test_a_multirun_prints_its_job_lines_masked_and_writes_no_secret(tmp_path):
    code, printed = gauntlet(
        "train",
        "-m",
        *QUICK,
        "model.net.hidden=8",
        "seed=1,2",
        *(override for _, override, _ in PLANTED),
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.log_dir={tmp_path}",
    )
    assert code == 0, printed
    assert "#0 : " in printed and "#1 : " in printed  # Hydra's own job lines were printed
    assert "+db_password=***" in printed
    assert (tmp_path / "sweep" / "multirun.yaml").is_file()
    assert leaks(tmp_path, printed) == {}


def test_leaderboard_exports_and_diff_show_no_secret(planted_run, tmp_path):
    root, run_dir, _ = planted_run
    printed = []
    for suffix in ("csv", "json", "md", "html"):
        code, said = gauntlet(
            "leaderboard", "--log-dir", str(root), "--runs", "--all",
            "--output", str(tmp_path / f"board.{suffix}"),
        )  # fmt: skip
        assert code == 0, said
        printed.append(said)
    code, said = gauntlet("leaderboard", "--log-dir", str(root), "--runs", "--all")
    assert code == 0, said
    printed.append(said)
    code, said = gauntlet("diff", str(run_dir), str(run_dir), "--format", "json")
    printed.append(said)
    assert (tmp_path / "board.html").stat().st_size > 0
    assert leaks(tmp_path, "\n".join(printed)) == {}


@pytest.mark.parametrize("command", ["explain", "attack"])
def test_a_secret_given_to_explain_or_attack_is_not_echoed(command, planted_run):
    _, run_dir, _ = planted_run
    code, said = gauntlet(command, f"ckpt_path={run_dir}", "password=S3CA-str")
    assert code == 2 and "not an option" in said
    assert "S3CA-str" not in said


@pytest.mark.slow
def test_eval_explain_attack_and_reproduce_of_a_run_with_secrets_write_and_print_none(
    planted_run, tmp_path
):
    root, run_dir, _ = planted_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    outputs = []
    for args in (
        ("eval", f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'eval'}", "+api_key=S3CA-str"),
        ("explain", f"ckpt_path={ckpt}", "method=saliency", "n=2", "steps=2"),
        ("attack", f"ckpt_path={ckpt}", "eps=[0.1]"),
        ("reproduce", str(run_dir), "--out", str(tmp_path / "repro")),
    ):
        code, said = gauntlet(*args)
        assert code in (0, 1), said  # reproduce may report a difference; it must not crash
        outputs.append(said)
    assert leaks(root, "\n".join(outputs)) == {}
    assert leaks(tmp_path, "") == {}


STUDY = """
name: secretive
base: digits_cnn
overrides:
  - trainer.max_epochs=1
  - trainer.limit_train_batches=2
  - trainer.limit_val_batches=1
  - trainer.limit_test_batches=1
  - logger=csv
  - model.net.hidden=8
{planted}
grid:
  model.net.depth: [1]
seeds: [1]
metrics: [test/acc]
"""


@pytest.mark.slow
def test_a_study_with_secrets_writes_and_prints_none_and_finds_its_own_runs(tmp_path):
    planted = "\n".join(f"  - {json.dumps(o)}" for _, o, _ in PLANTED)
    path = tmp_path / "secretive.yaml"
    path.write_text(textwrap.dedent(STUDY).format(planted=planted))
    log_dir = tmp_path / "logs"
    code, plan = spawn("study", str(path), "--log-dir", str(log_dir), "--dry-run")
    assert code == 0 and "gauntlet train -m" in plan, plan
    code, first = spawn("study", str(path), "--log-dir", str(log_dir))
    assert code == 0, first
    code, again = spawn("study", str(path), "--log-dir", str(log_dir))
    assert code == 0, again
    # masked in the record, the planned run is still found: nothing launched the second time
    assert "1 of 1 completed (1 from earlier, 0 launched now)" in again, again
    path.unlink()  # the user's own file holds them, of course
    assert leaks(tmp_path, plan + first + again) == {}


def test_an_uncaught_error_prints_its_traceback_masked(tmp_path):
    script = (
        "from gauntlet.redaction import guard_console\n"
        "with guard_console():\n"
        "    print('+db_password=S3CU-print')\n"
        "raise RuntimeError('failed with password=S3CU-raise')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 1 and "RuntimeError" in said
    assert "S3CU" not in said, said
