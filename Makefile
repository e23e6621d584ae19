# make run    Install what is missing, migrate, load demo data, serve on
#             http://$(HOST):$(PORT) (make run HOST=0.0.0.0 PORT=8123).
#             DATA_DIR from the environment is passed through (default ./data).
# make test   Install what is missing, run pytest against a throwaway
#             PostgreSQL and Redis (make test PYTEST_ARGS='-k audit -x').
#
# Both install Debian packages (as root, or through sudo) only when missing,
# and re-run pip only when pyproject.toml changed, so a second run is fast
# and needs no network.

HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
RUN_DEBS := gettext
TEST_DEBS := postgresql redis-server chromium fonts-noto-cjk

# Only pass DATA_DIR on when it is set: an empty one would override the default.
ifdef DATA_DIR
export DATA_DIR
endif

.DEFAULT_GOAL := help
.PHONY: help system-deps system-deps-run system-deps-test venv messages run test

help:
	@echo 'make run          install what is missing, migrate, seed demo data, serve on $(HOST):$(PORT)'
	@echo 'make test         install what is missing, run pytest with a throwaway PostgreSQL + Redis'
	@echo 'make system-deps  install the Debian packages both need (system-deps-run, system-deps-test)'
	@echo 'make venv         create .venv and pip install -e ".[dev]" (again when pyproject.toml changes)'
	@echo 'make messages     compile the translation catalogues (.po -> .mo)'
	@echo 'Variables: HOST (127.0.0.1), PORT (8000), PYTEST_ARGS, DATA_DIR (environment, default ./data)'

# $(call apt_install,PACKAGES): install those dpkg does not list as installed;
# apt-get update only runs when there is something to install.
define apt_install
@missing=""; \
for p in $(1); do \
  dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  echo "Installing Debian packages:$$missing"; \
  $(SUDO) apt-get update && \
  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
fi
endef

system-deps: system-deps-run system-deps-test

system-deps-run:
	$(call apt_install,$(RUN_DEBS))

# After system-deps-run, so that two apt-get never run at once under make -j.
system-deps-test: system-deps-run
	$(call apt_install,$(TEST_DEBS))

venv: $(VENV)/.installed

$(PY):
	python3 -m venv $(VENV)

# Order-only on $(PY): the interpreter's timestamp must not trigger a reinstall.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	touch $@

messages: system-deps-run venv
	$(PY) manage.py compilemessages --ignore=$(VENV)

run: system-deps-run venv messages
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py collectstatic --noinput
	exec $(PY) manage.py serve --host $(HOST) --port $(PORT)

test: system-deps-test venv messages
	bash scripts/with-services.sh $(VENV)/bin/pytest $(PYTEST_ARGS)
