# The operator's three commands (README.md): make crawl, make test, make demo.
# Each sets up .venv on first use (scripts/setup: pinned requirements, CJK fonts where
# root may install them) and skips the set-up while nothing it installs from has changed.
SHELL := /bin/bash
VENV := .venv
# The stamp is named after the hash of everything the set-up installs from.
SETUP_INPUTS := requirements.txt requirements-dev.txt pyproject.toml setup.py scripts/setup
SETUP_HASH := $(shell cat $(SETUP_INPUTS) | sha256sum | cut -c1-16)
STAMP := $(VENV)/.setup-$(SETUP_HASH)
ARGS ?=
DEMO_DIR ?= demo-data

.PHONY: setup crawl test demo lint

setup: $(STAMP)

$(STAMP):
	bash scripts/setup
	rm -f $(VENV)/.setup-*
	touch $@

# make crawl ARGS='-a since=2025-11-01 -s RFI_CONTACT=you@example.org'
crawl: $(STAMP)
	$(VENV)/bin/scrapy crawl rfi_cn $(ARGS)

# make test ARGS='tests/test_urls.py -q'
# Two pytest runs, both always, the target failing if either fails: the in-process crawls
# (marker inprocess) run Twisted's reactor, which no other test may see (tests/conftest.py).
# A run that selects no test (pytest's status 5) is an error, unless ARGS chose the tests.
NO_TESTS_OK := $(if $(strip $(ARGS)),5,0)
test: $(STAMP)
	@status=0; for marks in 'not inprocess' inprocess; do \
	    echo "pytest -m '$$marks' $(ARGS)"; \
	    $(VENV)/bin/python -m pytest -m "$$marks" $(ARGS); code=$$?; \
	    [ $$code -eq 0 ] || [ $$code -eq $(NO_TESTS_OK) ] || status=1; \
	done; exit $$status

# A replica on a free port, crawled fast into $(DEMO_DIR)/, a dataset built from it.
demo: $(STAMP)
	DEMO_DIR='$(DEMO_DIR)' DEMO_ARGS='$(ARGS)' bash scripts/demo

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
