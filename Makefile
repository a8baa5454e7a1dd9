# gauntlet — every target works on a fresh clone: the install step comes first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev
PYTEST_ARGS ?=
ARGS ?=
NAME ?= architectures

export WANDB_MODE ?= offline
export WANDB_SILENT ?= true

.PHONY: install train test test-all lint format sweep study leaderboard bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

train: install
	$(BIN)/gauntlet train $(ARGS)

test: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

sweep: install
	$(BIN)/gauntlet train -m model=cnn,rnn,transformer $(ARGS)

study: install
	$(BIN)/gauntlet study experiments/$(NAME).yaml $(ARGS)

leaderboard: install
	$(BIN)/gauntlet leaderboard $(ARGS)

bench: install
	$(BIN)/gauntlet bench $(ARGS)

clean:
	rm -rf logs outputs multirun wandb .pytest_cache .ruff_cache build *.egg-info src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
