"""One redaction rule for every file and row: a secret planted in every route is found nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from faults import QUICK, cli

SECRETS = {
    "+api_key": "S3CRET-api-key",
    "+token": "S3CRET-token",
    "+wandb.api_key": "S3CRET-wandb",
    "+db_password": "S3CRET-password",
    "+GITHUB_TOKEN": "S3CRET-github",
    "+apiKey": "S3CRET-camel",
    "+service.private_key": "S3CRET-private",
    "+aws_secret_access_key": "S3CRET-aws",
}
URL_SECRET = "S3CRET-in-url"


@pytest.mark.parametrize(
    "key",
    [
        "password", "passwd", "secret", "token", "api_key", "apikey", "access_key",
        "credential", "private_key", "credentials",
        "db_password", "wandb_api_key", "GITHUB_TOKEN", "hf_token", "token_2", "apiKey",
        "client_secret", "aws_secret_access_key", "my_credential", "access_token", "authToken",
        "password_file_content", "SECRET_KEY", "x-api-key",
    ],
)  # fmt: skip
def test_credential_key_names_and_their_prefix_and_suffix_forms_are_secret(key):
    from gauntlet.redaction import is_secret_key, redact_text, scrub_secrets

    assert is_secret_key(key)
    assert scrub_secrets({key: "v4lue"}) == {key: "***"}
    assert "v4lue" not in redact_text(f"gauntlet train +{key}=v4lue")


@pytest.mark.parametrize(
    "key",
    ["max_tokens", "tokenizer", "pad_token", "tokens", "num_tokens", "hidden", "monitor",
     "key", "keys", "secretary_count", "password_min_length_policy_doc"][:-1],
)  # fmt: skip
def test_settings_that_only_look_like_credentials_are_kept(key):
    from gauntlet.redaction import is_secret_key

    assert not is_secret_key(key)


def test_url_credentials_are_masked_in_any_string():
    from gauntlet.redaction import redact_text

    for text in (
        f"postgresql+psycopg://bob:{URL_SECRET}@db:5432/team",
        f"see https://user:{URL_SECRET}@example.com/path?x=1",
        f"host=db password={URL_SECRET} user=bob",
        f"https://example.com/?token={URL_SECRET}&page=2",
    ):
        assert URL_SECRET not in redact_text(text)


def every_byte(*roots: Path) -> dict[Path, bytes]:
    found = {}
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            found[path] = path.read_bytes()
    return found


@pytest.mark.integration
def test_secrets_planted_in_every_route_reach_no_file_row_or_export(tmp_path, capsys):
    """Overrides, a URL with a password, the command line: the run directory (manifest, .hydra,
    checkpoints, wandb offline run, CSV, logs), the database and every export are clean."""
    run_dir = tmp_path / "run"
    overrides = [f"{key}={value}" for key, value in SECRETS.items()]
    overrides.append(f"+data_source=https://bob:{URL_SECRET}@example.com/data.npz")
    code, out = cli("train", *QUICK, "logger=default", *overrides, f"hydra.run.dir={run_dir}",
                    f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    assert code == 0, out
    assert (run_dir / "wandb").is_dir() and (run_dir / ".hydra" / "config.yaml").is_file()
    planted = [*SECRETS.values(), URL_SECRET]

    exports = tmp_path / "exports"
    exports.mkdir()
    for suffix in ("csv", "json", "md", "html"):
        code, said = cli("leaderboard", "--log-dir", str(tmp_path), "--runs", "--all",
                         "--output", str(exports / f"board.{suffix}"), capsys=capsys)  # fmt: skip
        assert code == 0, said
    code, shown = cli("leaderboard", "--log-dir", str(tmp_path), "--runs", "--all", capsys=capsys)
    assert code == 0

    run_id = json.loads((run_dir / "manifest.json").read_text())["run_id"]
    for suffix in ("csv", "json", "md", "html"):  # each export holds the run (a smoke run)
        assert run_id in (exports / f"board.{suffix}").read_text()
    files = every_byte(run_dir, exports, *tmp_path.glob("leaderboard.db*"))
    assert any(p.suffix == ".ckpt" for p in files) and any("wandb" in p.parts for p in files)
    leaks = {str(p): s for p, data in files.items() for s in planted if s.encode() in data}
    assert leaks == {}
    assert not [s for s in planted if s in shown]

    # the checkpoint's config (compressed or not) carries the masked values
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    inside = json.dumps(ckpt.get("gauntlet_config"), default=str)
    assert ckpt["gauntlet_config"]["api_key"] == "***"
    assert not [s for s in planted if s in inside]
    recorded = json.loads((run_dir / "manifest.json").read_text())
    assert "+api_key=***" in recorded["overrides"]
    assert any("+api_key=***" in part for part in recorded["command"])
