# soa-gateway: `make run` serves on an embedded ZooKeeper, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test soak bench install zookeeper clean

run: install zookeeper
	$(BIN)/soa-gateway serve --dev

test: install zookeeper
	$(BIN)/pytest

bench: install zookeeper
	$(BIN)/python -m bench

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Debian's ZooKeeper server jars (Java comes with them when missing).
zookeeper:
	@test -f /usr/share/java/zookeeper.jar || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq zookeeper; }

clean:
	rm -rf $(VENV) .zk-dev *.egg-info .pytest_cache
