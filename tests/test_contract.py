"""A user's own network, config directory and optimizer, run the way a user runs them: the
``gauntlet`` command from their own directory, with ``--config-dir``."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import FAST, gauntlet

NETS = '''
import torch
from torch import nn


class Plain(nn.Module):
    """Only forward: gauntlet's embed is the identity."""

    def __init__(self, spec, hidden=16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(int(torch.tensor(spec.shape).prod()), hidden), nn.ReLU(),
            nn.Linear(hidden, spec.num_classes),
        )

    def forward(self, x):
        return self.body(x)


class Bag(nn.Module):
    """Tokens: its own embed, which explain and attack then perturb."""

    def __init__(self, spec, dim=8):
        super().__init__()
        self.table = nn.Embedding(spec.vocab_size, dim)
        self.head = nn.Linear(dim, spec.num_classes)
        self.embed_calls = 0

    def embed(self, x):
        self.embed_calls += 1
        return self.table(x)

    def forward_embedded(self, e):
        return self.head(e.mean(dim=1))

    def forward(self, x):
        return self.forward_embedded(self.embed(x))


class TokensWithoutEmbed(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.table = nn.Embedding(spec.vocab_size, 4)
        self.head = nn.Linear(4, spec.num_classes)

    def forward(self, x):
        return self.head(self.table(x).mean(dim=1))
'''


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A user's directory: my_nets.py, conf/model/*.yaml, token arrays; the command runs here."""
    (tmp_path / "my_nets.py").write_text(NETS)
    models = tmp_path / "conf" / "model"
    models.mkdir(parents=True)
    for name, target in [("plain", "Plain"), ("bag", "Bag"), ("no_embed", "TokensWithoutEmbed")]:
        (models / f"{name}.yaml").write_text(
            f"defaults: [base, _self_]\nnet:\n  _target_: my_nets.{target}\n"
        )
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.integers(2, 20, (200, 12))
    x[:, 0] = y  # the first token says the class
    np.savez(tmp_path / "tokens.npz", x_train=x, y_train=y)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAUNTLET_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("GAUNTLET_USER_CONFIG_DIR", raising=False)
    monkeypatch.delitem(sys.modules, "my_nets", raising=False)
    return tmp_path


def only_run(logs: Path) -> tuple[dict, Path]:
    manifests = sorted(logs.glob("runs/*/manifest.json"))
    assert len(manifests) == 1, manifests
    return json.loads(manifests[0].read_text()), manifests[0].parent


def test_a_plain_module_with_only_forward_trains_and_is_explained(project, capsys):
    assert gauntlet("train", "--config-dir", "conf", "model=plain", *FAST) == 0
    manifest, run_dir = only_run(project / "logs")
    assert manifest["status"] == "completed"
    assert manifest["config"]["model"]["net"]["_target_"] == "my_nets.Plain"
    assert manifest["project"] == {"dir": str(project), "config_dir": str(project / "conf")}
    assert manifest["gauntlet"]["version"]
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    code = gauntlet("explain", f"ckpt_path={ckpt}", "method=saliency", "n=8", "steps=4")
    assert code == 0, capsys.readouterr().err[-2000:]
    assert (
        "interpret/saliency/deletion_auc"
        in json.loads((run_dir / "manifest.json").read_text())["metrics"]
    )


def test_a_token_network_with_its_own_embed_is_attacked_through_it(project, capsys):
    args = ["data=arrays", "data.path=tokens.npz", "model=bag", *FAST]
    assert gauntlet("train", "--config-dir", "conf", *args) == 0
    manifest, run_dir = only_run(project / "logs")
    assert manifest["status"] == "completed"
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    code = gauntlet("attack", f"ckpt_path={ckpt}", "attack=fgsm", "eps=[0,0.5]")
    assert code == 0, capsys.readouterr().err[-2000:]
    metrics = json.loads((run_dir / "manifest.json").read_text())["metrics"]
    assert {"robust/acc@eps=0", "robust/acc@eps=0.5"} <= set(metrics), sorted(metrics)


def test_a_token_network_that_ignores_the_padding_mask_still_trains_explains_and_attacks(
    project, capsys
):
    # padded text: Bag's forward_embedded(e) takes no mask, and averages the padding in too
    rows = ["text,label"]
    for i in range(120):
        word = "great" if i % 2 else "awful"
        rows.append(f"the film was {word} and the cast {'sang' if i % 3 else 'acted'},{i % 2}")
    (project / "reviews.csv").write_text("\n".join(rows) + "\n")
    args = ["data=text_file", "data.path=reviews.csv", "data.max_length=24", "model=bag", *FAST]
    assert gauntlet("train", "--config-dir", "conf", *args) == 0
    manifest, run_dir = only_run(project / "logs")
    assert manifest["status"] == "completed"
    assert manifest["metrics"]["data/truncated_frac"] == 0.0
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    code = gauntlet("explain", f"ckpt_path={ckpt}", "method=saliency", "n=4", "steps=4")
    assert code == 0, capsys.readouterr().err[-2000:]
    record = json.loads((run_dir / "explain" / "saliency.json").read_text())
    for sample in record["samples"]:
        scores = np.array(sample["scores"])
        assert (scores[8:] == 0).all() and np.abs(scores[:8]).sum() > 0  # 8 words, 16 pads
    assert gauntlet("attack", f"ckpt_path={ckpt}", "attack=pgd", "eps=[0,0.5]", "steps=2") == 0


def test_a_token_network_without_embed_is_refused_saying_what_to_add(project, capsys):
    args = ["data=arrays", "data.path=tokens.npz", "model=no_embed", *FAST]
    assert gauntlet("train", "--config-dir", "conf", *args) == 2
    err = capsys.readouterr().err
    assert "my_nets.TokensWithoutEmbed" in err
    assert "embed(x)" in err and "forward_embedded(e)" in err
    assert "Traceback" not in err


def test_hydra_searchpath_finds_the_users_groups_too(project):
    searchpath = f"hydra.searchpath=[file://{project / 'conf'}]"
    assert gauntlet("train", searchpath, "model=plain", *FAST) == 0
    manifest, _ = only_run(project / "logs")
    assert manifest["config"]["model"]["net"]["_target_"] == "my_nets.Plain"


def test_a_missing_user_module_names_the_target_and_where_it_is_looked_for(project, capsys):
    (project / "conf" / "model" / "gone.yaml").write_text(
        "defaults: [base, _self_]\nnet: {_target_: not_here.Net}\n"
    )
    assert gauntlet("train", "--config-dir", "conf", "model=gone", *FAST) == 2
    err = capsys.readouterr().err
    assert "model.net._target_=not_here.Net" in err and "not_here.py" in err


def test_a_users_network_argument_that_its_class_does_not_take_is_named(project, capsys):
    code = gauntlet("train", "--config-dir", "conf", "model=plain", "+model.net.width=3", *FAST)
    assert code == 2
    err = capsys.readouterr().err
    assert "model.net.width" in err and "my_nets.Plain" in err and "hidden" in err


def test_a_misspelt_key_of_gauntlets_own_network_still_fails(project, capsys):
    assert gauntlet("train", "model=cnn", "model.net.hiden=8", *FAST) != 0
    assert "hiden" in capsys.readouterr().err


# -- optimizers and schedulers ----------------------------------------------------------------


def checkpoint_of(logs: Path) -> dict:
    _, run_dir = only_run(logs)
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


@pytest.mark.parametrize(
    ("overrides", "group_keys"),
    [
        (["model/optimizer=sgd"], {"momentum": 0.9, "nesterov": True}),
        (["model/optimizer=rmsprop", "model.scheduler=null"], {"alpha": 0.99}),
        (["model/optimizer=adam", "model/scheduler=onecycle"], {"amsgrad": False}),
        (["model/scheduler=step"], {"weight_decay": 0.01}),
    ],
)
def test_any_torch_optimizer_and_scheduler_trains_with_only_its_own_arguments(
    project, overrides, group_keys
):
    assert gauntlet("train", *overrides, *FAST) == 0
    ckpt = checkpoint_of(project / "logs")
    group = ckpt["optimizer_states"][0]["param_groups"][0]
    for key, value in group_keys.items():
        assert group[key] == value, (key, group)
    schedulers = ckpt["lr_schedulers"]
    if "model.scheduler=null" in overrides:
        assert schedulers == []
    elif "model/scheduler=onecycle" in overrides:
        # gauntlet passed total_steps (3 training batches) and steps it every batch
        assert schedulers[0]["total_steps"] == 3
        assert schedulers[0]["last_epoch"] == 3
    elif "model/scheduler=step" in overrides:
        assert schedulers[0]["step_size"] == 5


def test_an_argument_the_optimizer_does_not_take_names_the_class_key_and_choices(project, capsys):
    args = ["model/optimizer=sgd", "+model.optimizer.betas=[0.9,0.99]", *FAST]
    assert gauntlet("train", *args) == 2
    err = capsys.readouterr().err
    assert "model.optimizer.betas" in err and "torch.optim.sgd.SGD" in err
    assert "momentum" in err and "nesterov" in err
    assert "Traceback" not in err
    assert not list((project / "logs").glob("runs/*/checkpoints/*.ckpt"))


def test_a_scheduler_missing_a_required_argument_says_which(project, capsys):
    args = ["model.scheduler._target_=torch.optim.lr_scheduler.StepLR", "~model.scheduler.T_max"]
    assert gauntlet("train", *args, *FAST) == 2
    assert "model.scheduler" in (err := capsys.readouterr().err) and "step_size" in err


# -- the config directory and the study file ---------------------------------------------------


def test_a_study_file_names_the_config_dir_it_needs(project):
    from gauntlet.study.spec import load_study

    (project / "studies").mkdir()
    path = project / "studies" / "mine.yaml"
    path.write_text(
        textwrap.dedent(
            """
            config_dir: ../conf
            grid: {model: {plain: {model: plain}, cnn: {model: cnn}}}
            seeds: [1]
            """
        )
    )
    assert load_study(path).config_dir == project / "conf"
    path.write_text("config_dir: ../nowhere\ngrid: {seed_only: {a: {}}}\n")
    from gauntlet.errors import GauntletError

    with pytest.raises(GauntletError, match="config_dir"):
        load_study(path)


def test_a_config_dir_that_does_not_exist_is_refused(project, capsys):
    assert gauntlet("train", "--config-dir", "nowhere") == 2
    assert "--config-dir nowhere" in capsys.readouterr().err
