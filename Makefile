# Two commands for a newcomer: `make demo` and `make test`. Each creates or refreshes .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages the tests use: iptables-restore, ip netns, setpriv (namespaces); dot (graph SVG);
# libfaketime (a clock moved for one Pulumi program, in the engine tests).
SYSTEM_PACKAGES := iptables iproute2 util-linux tcpdump graphviz faketime

.PHONY: demo test lint typecheck unit e2e tools system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# As root, system-deps first installs what the demo's local run needs (iptables, iproute2),
# so a fresh machine runs it instead of skipping it.
demo: $(STAMP) system-deps
	$(BIN)/python -m mesh_components demo

test: lint typecheck tools unit

# The Pulumi CLI, its YAML language host, the Kubernetes provider, and etcd, the Kubernetes
# control plane and kubectl, built from their Go modules into .tools/bin (tools/build.sh; needs
# Go). A cold build takes about 25 minutes on 2 cores (23.5 measured beside the tests).
tools:
	bash tools/build.sh

# Only the tests that drive the real Pulumi engine (`make test` runs them too).
e2e: $(STAMP) tools
	$(BIN)/pytest -m engine

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) system-deps
	$(BIN)/pytest

system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=""; \
		for package in $(SYSTEM_PACKAGES); do \
			dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		fi; \
	else \
		echo "system-deps: not root or no apt-get, so the demo's local run and the network-namespace tests will skip"; \
	fi

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .hypothesis
