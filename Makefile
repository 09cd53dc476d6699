# The two set-up commands: `make demo` (install, then run agentrag on the embedded
# default) and `make test` (install with test extras, then run the test suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CACHE  ?= $(or $(AGENTRAG_CACHE_DIR),$(HOME)/.cache/agentrag)
WHEELS := $(CACHE)/wheels
STAMP  := $(VENV)/.agentrag-installed

.PHONY: demo test install lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned to the CPU build (2.13.0) in pyproject.toml; llama-cpp-python comes
# from the wheel cache, built once per machine by scripts/build_llama_wheel.sh.
$(STAMP): pyproject.toml scripts/build_llama_wheel.sh | $(BIN)/python
	scripts/build_llama_wheel.sh $(WHEELS) $(BIN)/pip
	$(BIN)/pip install --find-links $(WHEELS) -e '.[test,dev,eval,server]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/agentrag demo

# The vLLM test server lives in its own venv (it pins another torch); the script
# creates it once per machine and converts the packaged model for it. test_tools.sh
# installs strace/iproute2 for the loopback-only proof of the demo. The tests
# themselves run at 60 columns under a deep tmp folder (tests/conftest.py).
test: $(STAMP)
	scripts/test_tools.sh
	scripts/ensure_test_tools.sh
	scripts/setup_langgraph_dev.sh $(CACHE) $(BIN)/python
	scripts/setup_vllm.sh $(CACHE)
	scripts/ensure_postgres.sh
	AGENTRAG_CACHE_DIR=$(CACHE) $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check agentrag graphs evals tests
	$(BIN)/mypy agentrag graphs

clean:
	rm -rf $(VENV) .pytest_cache build dist

# The long crash suite: SIGKILL at random points of ingest, answer, supersede and forget,
# 500 trials per operation (AGENTRAG_CRASH_TRIALS), a fresh seed each time unless
# AGENTRAG_CRASH_SEED is given (printed with any failure). `make test` runs 20 per operation.
.PHONY: soak
soak: $(STAMP)
	AGENTRAG_CRASH_TRIALS=$${AGENTRAG_CRASH_TRIALS:-500} AGENTRAG_CRASH_SEED=$${AGENTRAG_CRASH_SEED:-$$(date +%s)} \
	AGENTRAG_CACHE_DIR=$(CACHE) $(BIN)/python -m pytest tests/reliability/test_crash_kill.py -p no:cacheprovider \
	  --timeout=0 -s -q
