"""The ``gauntlet`` command: one subcommand per task, each imported only when chosen."""

from __future__ import annotations

import importlib
import io
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path

# name -> (module, whether it is a Hydra app that reads sys.argv itself, one-line help)
COMMANDS: dict[str, tuple[str, bool, str]] = {
    "train": ("gauntlet.train", True, "train a configured run (Hydra overrides, -m for multirun)"),
    "eval": ("gauntlet.eval", True, "evaluate a checkpoint on its test split: ckpt_path=PATH"),
    "study": ("gauntlet.study.cli", False, "run a study file: grid x seeds, report, claims"),
    "leaderboard": ("gauntlet.leaderboard.cli", False, "query the leaderboard, import runs"),
    "reproduce": ("gauntlet.repro.reproduce", False, "re-run a recorded run and compare metrics"),
    "diff": (
        "gauntlet.repro.diff",
        False,
        "what differs between runs: config, code, data, metrics",
    ),
    "explain": ("gauntlet.interpret.cli", False, "attributions and faithfulness for a checkpoint"),
    "attack": ("gauntlet.robust.cli", False, "robust accuracy under FGSM/PGD for a checkpoint"),
    "bench": ("gauntlet.bench.cli", False, "framework overhead against a plain PyTorch loop"),
    "serve": ("gauntlet.leaderboard.serve.cli", False, "the live team page over the leaderboard"),
    "data": ("gauntlet.data.cli", False, "pack any dataset into shards: data pack --to DIR ..."),
    "sync": (
        "gauntlet.wandb_sync",
        False,
        "upload offline W&B runs: a run, a sweep, --study NAME or --all",
    ),
}
# Lightning's DDP launcher re-runs sys.argv in child processes; they find the subcommand here.
_COMMAND_ENV = "GAUNTLET_COMMAND"


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: gauntlet COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += [
        "",
        "--config-dir DIR (-cd DIR), with any command, adds your own config groups (model/,",
        "data/, experiment/, ...) beside gauntlet's; modules in the working directory are",
        "importable by _target_.",
        "gauntlet COMMAND --help shows each command's options; gauntlet --version.",
    ]
    return "\n".join(lines)


def take_config_dir(args: list[str]) -> tuple[str | None, list[str]]:
    """``--config-dir DIR`` / ``-cd DIR`` / ``--config-dir=DIR`` out of ``args``: (DIR, the rest)."""
    rest: list[str] = []
    value = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--config-dir", "-cd"):
            if i + 1 == len(args):
                from gauntlet.errors import GauntletError

                raise GauntletError(f"{arg} needs a directory: {arg} DIR")
            value, i = args[i + 1], i + 2
            continue
        if arg.startswith("--config-dir="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return value, rest


# Hydra's shell completion (`gauntlet -sc install=bash`, what `--hydra-help` advertises) and its
# own help are those of `gauntlet train`
_TRAIN_FLAGS = ("-sc", "--shell-completion", "--hydra-help")


def complete(command: str | None, args: list[str]) -> int:
    """Answer the query a shell completion script sends (``-sc query=SHELL``, the line so far in
    ``$COMP_LINE``): a command name after ``gauntlet``, else the command's own completions,
    Hydra's for train and eval with the command's word taken out of the line."""
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    shell = next((a.split("=", 1)[1] for a in args if a.startswith("query=")), "bash")
    joiner = " " if shell == "bash" else "\n"
    if len(words) < 2 or (len(words) == 2 and not line.endswith(" ")):
        typed = words[1] if len(words) == 2 else ""
        print(joiner.join(name for name in COMMANDS if name.startswith(typed)))
        return 0
    if words[1] in COMMANDS:
        command = words[1]
        os.environ["COMP_LINE"] = " ".join([words[0], *words[2:]]) + (
            " " if line.endswith(" ") else ""
        )
    if command is None or not COMMANDS[command][1]:
        return 0  # the shell's own completion (file names) takes over
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = run_hydra(command, args)
    print(joiner.join(with_group_forms(buffer.getvalue().split())))
    return code


def with_group_forms(choices: list[str]) -> list[str]:
    """Hydra offers a group that also has sub-groups (``model``: model/optimizer/...) only as a
    bare word; add ``model=`` so that its options complete too."""
    from gauntlet.config import CONFIG_DIR, user_config_dir

    roots = [r for r in (user_config_dir(), CONFIG_DIR) if r is not None]
    extra = [
        f"{word}="
        for word in choices
        if word.isidentifier() and any(any((r / word).glob("*.yaml")) for r in roots)
    ]
    return sorted({*choices, *extra})


def hydra_args(args: list[str]) -> list[str]:
    """Deleting ``model.scheduler`` (a key of a typed schema, which cannot lose keys) means no
    scheduler, as in plain Hydra: it becomes ``model.scheduler=null``."""
    args = [
        "model.scheduler=null" if arg.split("=", 1)[0] in _NO_SCHEDULER else arg for arg in args
    ]
    return resume_in_place(args)


def resume_in_place(args: list[str]) -> list[str]:
    """``resume=RUN_DIR`` continues that run in its own directory: the command's log goes to
    the run's ``train.log`` (appended), and no new run directory is made for it. The run's
    ``.hydra/`` keeps the config it was started with."""
    value = next((a.split("=", 1)[1] for a in args if a.startswith("resume=")), None)
    explicit = any(a.startswith(("hydra.run.dir=", "hydra.output_subdir=")) for a in args)
    if not value or value == "null" or explicit or {"-m", "--multirun"} & set(args):
        return args
    if not Path(value).expanduser().is_dir():
        return args  # refused by the run itself (no manifest there); nothing is left behind
    return [*args, f"hydra.run.dir={value}", "hydra.output_subdir=null"]


_NO_SCHEDULER = ("~model.scheduler", "~model/scheduler")


# Hydra flags that cannot work for gauntlet's commands, and what to use instead
_REFUSED_FLAGS = {
    "--config-path": "gauntlet's own configs are fixed; add yours with --config-dir DIR",
    "-cp": "gauntlet's own configs are fixed; add yours with --config-dir DIR",
    "--experimental-rerun": "rerun a recorded run with: gauntlet reproduce RUN_DIR "
    "(or continue it with resume=RUN_DIR)",
}
_SHOW_FLAGS = ("--cfg", "-c", "--help", "-h", "--info", "-i")


def check_hydra_flags(command: str, args: list[str]) -> None:
    """Every flag ``--hydra-help`` lists works, or is refused here with what to use instead."""
    from gauntlet.errors import GauntletError

    flags = {a.split("=", 1)[0] for a in args}
    for flag in flags & _REFUSED_FLAGS.keys():
        raise GauntletError(
            f"{flag} is not supported by gauntlet {command}: {_REFUSED_FLAGS[flag]}"
        )
    if "--resolve" in flags and not flags & set(_SHOW_FLAGS):
        raise GauntletError(
            "--resolve only changes what --cfg (job|hydra|all) or --help shows: "
            f"gauntlet {command} --cfg job --resolve"
        )


def run_hydra(command: str, args: list[str]) -> int:
    from gauntlet import hidden_configs
    from gauntlet.compat import hydra_errors, hydra_mode
    from gauntlet.config import register_schemas, user_config_dir
    from gauntlet.run.user_errors import composition_error

    check_hydra_flags(command, args)
    # what Hydra needs before it composes: gauntlet's schemas and resolvers, and its patches
    register_schemas()
    hidden_configs.install()
    hydra_errors.install(composition_error)
    hydra_mode.install()
    module = importlib.import_module(COMMANDS[command][0])
    if user_config_dir() is not None:  # Hydra's own flag: searched before gauntlet's
        args = ["--config-dir", str(user_config_dir()), *args]
    sys.argv = [sys.argv[0], *hydra_args(args)]
    # for the DDP children this command starts; taken back after, so that a later
    # command from the same process (or its subprocesses) is not read as this one
    previous = os.environ.get(_COMMAND_ENV)
    os.environ[_COMMAND_ENV] = command
    try:
        module.main()
    finally:
        if previous is None:
            os.environ.pop(_COMMAND_ENV, None)
        else:
            os.environ[_COMMAND_ENV] = previous
    return 0


def main(argv: list[str] | None = None) -> int:
    from gauntlet.redaction import guard_console
    from gauntlet.run.startup import mark_entry

    mark_entry()
    try:
        with guard_console():  # credentials never reach the console, whoever prints them
            return _main(list(sys.argv[1:] if argv is None else argv))
    finally:
        mark_entry(entered=False)


def _main(argv: list[str]) -> int:
    # `gauntlet --config-dir DIR train ...` as well as `gauntlet train --config-dir DIR ...`
    if argv[:1] and argv[0].split("=", 1)[0] in ("--config-dir", "-cd"):
        width = 1 if "=" in argv[0] else 2
        argv = [*argv[width : width + 1], *argv[:width], *argv[width + 1 :]]
    if argv[:1] and argv[0].split("=", 1)[0] in _TRAIN_FLAGS:
        argv = ["train", *argv]
    if argv and argv[0] in COMMANDS:
        command, args = argv[0], argv[1:]
    elif os.environ.get(_COMMAND_ENV) in COMMANDS:
        command, args = os.environ[_COMMAND_ENV], argv
    else:
        command, args = None, argv
    # `gauntlet --version`, and `gauntlet train --version` too, where Hydra would print its own
    if args[:1] in (["--version"], ["-V"]) or (command and "--version" in args):
        from gauntlet import __version__

        print(f"gauntlet {__version__}")
        return 0
    if command is None:
        print(usage(), file=sys.stderr if argv else sys.stdout)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\ngauntlet: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0

    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    from gauntlet.console import quiet_dependencies

    quiet_dependencies()
    module_name, is_hydra, _ = COMMANDS[command]
    from gauntlet.errors import GauntletError

    try:
        from gauntlet.config import import_from, set_user_config_dir

        # the user's modules (my_nets.TinyMLP) import from where the command runs, as with
        # `python -m`; PYTHONPATH carries that to launcher and DDP child processes
        import_from(os.getcwd())
        config_dir, args = take_config_dir(args)
        if config_dir is not None:
            import_from(set_user_config_dir(config_dir).parent)
        if any(a.startswith("query=") for a in args) and {"-sc", "--shell-completion"} & {
            a.split("=", 1)[0] for a in args
        }:
            return complete(command, args)
        if is_hydra:
            return run_hydra(command, args)
        return int(importlib.import_module(module_name).main(args) or 0)
    except GauntletError as err:
        print(f"gauntlet {command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gauntlet {command}: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`gauntlet train --help | head`): not an error of the command;
        # stdout goes to /dev/null so that Python's own flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
