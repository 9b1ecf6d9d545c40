# Two commands for a fresh machine: `make run` and `make test`. Everything else
# (virtual environment, packages, model training) is bootstrapped from here.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements.in | sha1sum | cut -c1-12)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

# Rasa 3.6 needs Python 3.10: take the first interpreter that really is 3.10.
PYTHON310 := $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo $$p; break; }; done)

CHROMIUM ?= /usr/bin/chromium

.PHONY: setup train run shell test bench catalogs facts browser proxy clean

$(STAMP): requirements.lock requirements.in
	@test -n "$(PYTHON310)" || { echo "Python 3.10 is needed (Rasa 3.6): install python3.10"; exit 1; }
	@rm -f $(VENV)/.installed-*
	$(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	@touch $@

setup: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

# Debian's nginx for the proxy test (deploy/nginx.conf run for real on loopback).
NGINX ?= /usr/sbin/nginx
proxy:
	@test -x $(NGINX) || command -v nginx >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq nginx-light >/dev/null; fi; }

train: setup
	$(PY) -m bot train

run: train
	$(PY) -m bot serve

shell: train
	$(PY) -m bot shell

test: train browser proxy
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: train
	$(PY) -m bench

catalogs: setup
	$(PY) -m bot catalogs extract
	$(PY) -m bot catalogs check

facts: setup
	@$(PY) -m bot facts

clean:
	rm -rf $(VENV) models results .pytest_cache
