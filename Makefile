# The README's two commands. Each creates .venv, installs the pinned dependencies, and runs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean peers

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tfusion demo --out demo_report

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/speed.py

# The panel peers (SDV PAR, gretel DGAN) in their own venv, beside the same torch 2.13.0:
# gretel-synthetics pins packages with no wheel for this Python, so it goes in without its
# dependencies (DGAN runs with what sdv brings). Then:
#   .venv/bin/python benchmarks/panel_peers.py --peers-python .venv-peers/bin/python
PEERS := .venv-peers
peers:
	test -x $(PEERS)/bin/python || $(PY) -m venv $(PEERS)
	echo "torch==2.13.0" > $(PEERS)/constraints.txt
	$(PEERS)/bin/python -m pip install --quiet -c $(PEERS)/constraints.txt torch==2.13.0 \
		numpy pandas pyarrow scikit-learn scipy "sdv>=1.0" category-encoders
	$(PEERS)/bin/python -m pip install --quiet -c $(PEERS)/constraints.txt --no-deps \
		"gretel-synthetics==0.22.20"

clean:
	rm -rf $(VENV) demo_report .pytest_cache
