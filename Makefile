# soa-gateway: `make run` serves on an embedded ZooKeeper, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint soak bench install zookeeper nginx wrk chromium screenshots cluster cluster-stop clean

run: install zookeeper
	$(BIN)/soa-gateway serve --dev

test: install zookeeper nginx chromium
	$(BIN)/pytest

# ruff (lint and format check) and mypy, configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install zookeeper wrk
	$(BIN)/python -m bench

# Minutes of load on two replicas (bench/soak.py) and thousands of schemathesis examples:
# the tests marked soak, which make test leaves out. Bounded, loopback only.
SOAK_SECONDS ?= 180
soak: install zookeeper
	SOA_SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/pytest -m soak -s -p no:cacheprovider

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $@

# Debian's ZooKeeper server jars (Java comes with them when missing).
zookeeper:
	@test -f /usr/share/java/zookeeper.jar || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq zookeeper; }

# deploy/docker-compose.yml's topology on loopback: 3 ZooKeeper servers, 2 replicas, nginx.
cluster: install zookeeper nginx
	deploy/local-cluster.sh start

cluster-stop:
	deploy/local-cluster.sh stop

# nginx for the local cluster (and its test); the cluster runs its own nginx, so the
# package's system service (port 80) is stopped and disabled when this installs it.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx && \
	  { $(SUDO) systemctl disable --now nginx 2>/dev/null || $(SUDO) service nginx stop 2>/dev/null || true; }; }

# Debian's headless browser and its driver for the console's browser tests (tests/test_ui_browser.py).
chromium:
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

# PNGs of the console's main pages for the README, taken by the browser test's walk.
screenshots: install zookeeper chromium
	SOA_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/test_ui_browser.py -q -p no:cacheprovider

# The HTTP load generator of the benchmarks.
wrk:
	@command -v wrk >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }

clean:
	deploy/local-cluster.sh stop
	rm -rf $(VENV) .zk-dev .cluster *.egg-info .pytest_cache
