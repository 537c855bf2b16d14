# Two entry points: `make demo` (set up, run the main job) and `make test` (set up, run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch: never let pip resolve a CUDA build on a CPU machine.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist

.PHONY: setup data demo test bench clean

$(BIN)/binas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH_SPEC)" || $(BIN)/pip install -q "$(TORCH_SPEC)" --index-url $(TORCH_INDEX)
	$(BIN)/pip install -q -e ".[test]"
	@touch $(BIN)/binas

setup: $(BIN)/binas

# Fashion-MNIST from Debian/Ubuntu's package when it is missing (binas also searches --data-dir,
# $$BINAS_DATA_DIR and ~/.cache/binas, and says how to get the files if none has them).
data:
	@if [ ! -d "$(FMNIST_DIR)" ] && [ -z "$$BINAS_DATA_DIR" ] && command -v apt-get >/dev/null 2>&1 \
	    && [ "$$(id -u)" = 0 ]; then \
	  echo "installing dataset-fashion-mnist"; \
	  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	fi

demo: setup data
	OMP_NUM_THREADS=1 $(BIN)/binas demo --out runs/demo

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
