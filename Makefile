# gauntlet — every target works on a fresh clone: the install step comes first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev
PYTEST_ARGS ?=
# pytest-xdist workers for make test / test-all: 0 runs in this process, 2 or auto in parallel
PYTEST_WORKERS ?= 0
ARGS ?=
NAME ?= architectures

export WANDB_MODE ?= offline
export WANDB_SILENT ?= true

# where runs, the leaderboard and Optuna's storage live (paths.log_dir's default)
LOG_DIR ?= $(or $(GAUNTLET_LOG_DIR),logs)

.PHONY: help install train test test-unit test-all lint format sweep study leaderboard bench clean clean-logs

help: ## list the targets (this text)
	@echo "usage: make TARGET [ARGS=\"...\"] [NAME=study] [EXTRAS=dev,hf]"
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 16

install: $(VENV)/.installed ## create .venv: torch (TORCH_SPEC), then gauntlet with EXTRAS

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

train: install ## train the default run (CNN on digits); ARGS="model=rnn ..."
	$(BIN)/gauntlet train $(ARGS)

test-unit: install ## the unit tier: in-process checks, no trained run, no service (under a minute)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

test: install ## the integration tier CI runs: every test but the slow ones
	$(BIN)/python -m pytest -m "not slow" -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

test-all: install ## every test, the slow ones too
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

lint: install ## ruff check and format check; import-linter's contracts (pyproject.toml)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports --no-cache

format: install ## ruff format and safe fixes
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

sweep: install ## multirun: model=cnn,rnn,transformer
	$(BIN)/gauntlet train -m model=cnn,rnn,transformer $(ARGS)

study: install ## run a study: NAME=architectures (experiments/NAME.yaml)
	$(BIN)/gauntlet study experiments/$(NAME).yaml $(ARGS)

leaderboard: install ## print the leaderboard; ARGS="--group-by model"
	$(BIN)/gauntlet leaderboard $(ARGS)

bench: install ## framework overhead against a plain PyTorch loop
	$(BIN)/gauntlet bench $(ARGS)

clean: ## remove build and cache files; never runs or results (see clean-logs)
	rm -rf .pytest_cache .ruff_cache build dist *.egg-info src/*.egg-info
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +

clean-logs: ## delete every run, the leaderboard and Optuna's storage in LOG_DIR, after asking
	@if [ ! -d "$(LOG_DIR)" ]; then echo "nothing to delete: no $(LOG_DIR)/"; exit 0; fi; \
	runs=$$(find "$(LOG_DIR)" -name manifest.json 2>/dev/null | wc -l); \
	dbs=$$(cd "$(LOG_DIR)" && ls *.db 2>/dev/null | tr '\n' ' '); \
	echo "This deletes $(LOG_DIR)/ ($$(du -sh "$(LOG_DIR)" | cut -f1)): run directories: $$runs$${dbs:+; databases: $$dbs}"; \
	printf "Delete them? [y/N] "; read answer || answer=; \
	if [ "$$answer" = y ] || [ "$$answer" = yes ]; then rm -rf "$(LOG_DIR)" && echo "deleted $(LOG_DIR)/"; \
	else echo "kept $(LOG_DIR)/"; exit 1; fi
