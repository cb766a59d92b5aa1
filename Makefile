# Two commands do everything on a fresh machine:
#   make lab    create .venv, install stviz, open the notebooks in JupyterLab
#   make test   create .venv, install stviz, run every test (unit tests and nbval)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# A pinned torch first. On Linux, PyPI's torch wheel brings CUDA (several GB); on a machine without a GPU, take the
# CPU wheel: make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
# Jupyter refuses to run as root unless told to (containers and CI machines often are root).
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup lab test browser-test html figures lint zoo clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

lab: setup
	$(VENV)/bin/jupyter lab $(LAB_FLAGS) notebooks/

# One pytest worker per CPU core, each on one thread (tests/conftest.py); a file's tests stay in one worker, in order.
test: setup
	$(PY) -m pytest -n auto --dist loadfile

# JupyterLab + headless Chromium (Debian's `chromium` package) driven by Playwright: every notebook opened as a
# fresh clone shows it, Run All, every widget control moved. Screenshots in build/browser/screenshots.
browser-test: setup
	$(PY) tests/browser/run_notebooks.py

html: setup
	$(VENV)/bin/jupyter nbconvert --to html --execute --output-dir build/html notebooks/*.ipynb

# Retrain the five zoo checkpoints from their recipes on one core (5 min 56 s in the last full run), and beside them,
# on the second core, the seed and ensemble study (about 5 minutes) and then notebook 05's TSM study (about 2
# minutes): about 7 minutes on a quiet 2-core machine. Each prints its accuracies; deterministic for its seeds.
zoo: setup
	$(PY) -m stviz.zoo.build & models=$$!; \
	$(PY) benchmarks/seeds.py && $(PY) benchmarks/tsm_training.py; studies=$$?; \
	wait $$models && exit $$studies

figures: setup
	$(PY) -m stviz.figures img

lint: setup
	$(VENV)/bin/ruff check stviz tests benchmarks
	$(VENV)/bin/ruff format --check stviz tests benchmarks

clean:
	rm -rf $(VENV) build ~/.cache/stviz
