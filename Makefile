# hubseg — two commands from a fresh clone: `make demo` and `make test`.
# Everything else here is a building block of those two.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test install postgres browser lint format bench-sandbox clean

## demo: install, generate the `demo` portal, serve it and run the main job against it
demo: install
	$(BIN)/hubseg demo

## test: install, lint, run every test
test: install postgres browser lint
	$(BIN)/pytest -n 2 --dist loadfile

## install: a pinned virtualenv in .venv from uv.lock (idempotent)
install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

## postgres: Debian's PostgreSQL binaries, for the tests that build on a real PostgreSQL server
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }

## browser: Debian's Chromium, for the test that opens the HTML report headless
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

## lint: ruff over the Python code
lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff check --fix .

## bench-sandbox: sandbox benchmark at `demo` (BENCH_PRESET=large for the recorded run)
bench-sandbox: install
	$(BIN)/python bench/sandbox_bench.py --preset $${BENCH_PRESET:-demo}

clean:
	rm -rf .hubseg target logs bench/.work
