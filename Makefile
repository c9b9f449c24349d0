# Deep Learning Notes. `make site` and `make test` set everything up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VENDOR := docs/assets/vendor
KATEX_VERSION   := 0.16.47
MERMAID_VERSION := 11.12.2
# Silence the theme's end-of-life banner in every build.
export NO_MKDOCS_2_WARNING := 1

.DEFAULT_GOAL := help
.PHONY: help setup site serve test test-fast bench clean

help:  ## list the targets, and the contributor's loop
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'
	@echo
	@echo "The loop: edit snippets/NAME.py or docs/PAGE.md, then"
	@echo "  make serve                                        preview; re-runs only the edited snippet"
	@echo "  $(BIN)/pytest tests/test_snippets.py -k NAME   one snippet's tests (quick mode)"
	@echo "  $(BIN)/pytest docs/PAGE.md                     one page's code examples"
	@echo "  make test-fast                                    the tests that run no snippet"
	@echo "  make test                                         everything; re-runs only what changed"

# Set-up runs again only when what it depends on changes.
# Trained weights and data that ship in a wheel (dlnotes/contract.py DATA_PACKAGES) come without
# the wheel's dependencies: facenet-pytorch pins an old torch, aaanalysis pulls in many packages.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps aaanalysis==1.1.0 facenet-pytorch==2.6.0
	touch $@

# KaTeX (formulas) and Mermaid (diagrams) are served from the site itself, never from a CDN:
# fetched once from the npm registry, keeping only the files the pages load.
$(VENDOR)/.stamp: Makefile
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/katex $(VENDOR)/mermaid
	cd $(VENDOR) && npm pack --silent katex@$(KATEX_VERSION) mermaid@$(MERMAID_VERSION) >/dev/null
	tar -xzf $(VENDOR)/katex-$(KATEX_VERSION).tgz -C $(VENDOR)/katex --strip-components=2 \
		package/dist/katex.min.js package/dist/katex.min.css package/dist/fonts
	tar -xzf $(VENDOR)/mermaid-$(MERMAID_VERSION).tgz -C $(VENDOR)/mermaid --strip-components=2 \
		package/dist/mermaid.min.js
	rm $(VENDOR)/*.tgz
	touch $@

setup: $(STAMP) $(VENDOR)/.stamp  ## create .venv and install the project (skipped when up to date)

site: setup  ## run the stale snippets (full mode) and build the site into site/
	$(BIN)/mkdocs build --strict

serve: setup  ## preview with live reload; an edited snippet re-runs alone
	$(BIN)/mkdocs serve

test: setup  ## lint, then every test (snippets in quick mode, doc tests, the site)
	$(BIN)/ruff check .
	$(BIN)/pytest

test-fast: setup  ## lint, then the tests that run no snippet and build no site (seconds)
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow"

bench: setup  ## time cold, warm and one-snippet rebuilds against a bare mkdocs build
	$(BIN)/python benchmarks/bench.py

clean:  ## remove generated outputs and the built site (keeps .venv)
	rm -rf site docs/generated .dlnotes
