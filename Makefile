# imagegen: build, test and run the serverless image API. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8080
TF ?= terraform
TF_DIR := terraform
# Lambda architecture the vendor layer's wheels are built for (and `make deploy` passes to Terraform).
ARCH ?= x86_64
# Lambda's runtime Python (terraform/modules/function: python3.12): the layers' wheels are for it, and
# every zip carries bytecode compiled by it (Lambda cannot write __pycache__; scripts/build_zip.py).
LAMBDA_PYTHON_VERSION := 3.12
LAMBDA_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON_VERSION).*/bin/python$(LAMBDA_PYTHON_VERSION)) \
  $(shell command -v python$(LAMBDA_PYTHON_VERSION) 2>/dev/null))
export LAMBDA_PYTHON
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
WHEEL_PLATFORMS_x86_64 := manylinux2014_x86_64 manylinux_2_28_x86_64
WHEEL_PLATFORMS_arm64 := manylinux2014_aarch64 manylinux_2_28_aarch64
WHEEL_PLATFORMS := $(WHEEL_PLATFORMS_$(ARCH))
ifeq ($(WHEEL_PLATFORMS),)
$(error ARCH must be x86_64 or arm64, not "$(ARCH)")
endif

# LocalStack's endpoint and test credentials, for the targets that run against LocalStack or moto
# only (tests, serve, api-key, bench, deploy-local): never exported to every recipe, so `make deploy`
# runs with the operator's own AWS (profile, SSO or environment) untouched. What the caller already
# set wins, as before.
LOCALSTACK_URL ?= http://127.0.0.1:4566
LOCAL_AWS = AWS_ENDPOINT_URL="$${AWS_ENDPOINT_URL:-$(LOCALSTACK_URL)}" \
  AWS_ACCESS_KEY_ID="$${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="$${AWS_SECRET_ACCESS_KEY:-test}" \
  AWS_DEFAULT_REGION="$${AWS_DEFAULT_REGION:-us-east-1}"

FUNCTIONS := $(notdir $(patsubst %/,%,$(dir $(wildcard functions/*/handler.py))))
FUNCTION_ZIPS := $(FUNCTIONS:%=dist/functions/%.zip)
LAYER_ZIPS := dist/layers/imagegen.zip dist/layers/awssdk.zip dist/layers/vendor.zip dist/layers/analysis.zip
SHARED_SOURCES := $(shell find src/imagegen -type f -not -path '*/__pycache__/*')

.PHONY: help install screenshots build test test-unit test-integration test-infra test-deploy fuzz lint localstack-up localstack-down \
        serve api-key keys smoke docs tf-check deploy deploy-local bench ci clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt cli/pyproject.toml layers/awssdk/requirements.txt layers/vendor/requirements.txt layers/analysis/requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The official openai Node SDK, for tests/integration/test_node_sdk.py (Node 20+ and npm on PATH).
tests/node/node_modules/.package-lock.json: tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the Node SDK tests (Node 20+)" >&2; exit 1; }
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error

# The browser the playground's tests drive (Playwright with Debian's chromium: Playwright's own browser
# download needs a network we do not have). Installed with apt where it is missing; root or sudo.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "Chromium is needed for the browser tests: install it, or set CHROMIUM=/path/to/chromium" >&2; exit 1; }
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null

install: $(VENV)/.installed tests/node/node_modules/.package-lock.json $(CHROMIUM) ## Create .venv (with the imagegen CLI) and tests/node, install Chromium: every dev and test dependency

build: $(FUNCTION_ZIPS) $(LAYER_ZIPS) ## Zip each function and build the layers into dist/ (ARCH=x86_64|arm64)

# Rebuilt only when that function's own files change.
.SECONDEXPANSION:
dist/functions/%.zip: $$(wildcard functions/$$*/*.py) scripts/build_zip.py | lambda-python
	$(PYTHON) scripts/build_zip.py $@ functions/$* --python $(LAMBDA_PYTHON) --root /var/task

dist/layers/imagegen.zip: $(SHARED_SOURCES) scripts/build_zip.py | lambda-python
	$(PYTHON) scripts/build_zip.py $@ src python/ --python $(LAMBDA_PYTHON) --root /opt

.PHONY: lambda-python
lambda-python:
	@test -n "$(LAMBDA_PYTHON)" && "$(LAMBDA_PYTHON)" -c 'import sys; assert sys.version.startswith("$(LAMBDA_PYTHON_VERSION).")' || { \
	  echo "Python $(LAMBDA_PYTHON_VERSION) (Lambda's runtime) is needed to compile the zips' bytecode: install it or set LAMBDA_PYTHON=/path/to/python$(LAMBDA_PYTHON_VERSION)" >&2; exit 1; }

# Wheels for Lambda's python3.12 on $(ARCH), whatever the build machine is (several --platform
# tags: pip takes the newest each package offers). All pins are in the requirements file, so
# --no-deps; pip compiles nothing and bin/ goes, so the zip depends only on the wheels and on the
# bytecode build_zip.py compiles with Lambda's Python. build/arch-$(ARCH) is
# touched when ARCH changes, so switching architecture rebuilds the layer.
build/arch-$(ARCH):
	mkdir -p build && rm -f build/arch-* && touch $@

# The third-party layers (awssdk: the pinned boto3/botocore; vendor; analysis: onnxruntime, numpy), one rule:
# layers/<name>/requirements.txt. build_zip.py refuses a zip over Lambda's 50 MB direct-upload limit.
# Test suites, type stubs and onnxruntime's model tooling are dropped (never imported at run time); the unzipped size is printed
# because Lambda refuses more than 250 MB for a function and its layers together.
dist/layers/%.zip: layers/%/requirements.txt $$(wildcard layers/$$*/services.txt) scripts/build_zip.py scripts/slim_botocore.py build/arch-$(ARCH) | lambda-python
	rm -rf build/$* && mkdir -p build/$*
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
	  $(WHEEL_PLATFORMS:%=--platform %) --implementation cp --python-version $(LAMBDA_PYTHON_VERSION) --only-binary=:all: \
	  --target build/$* -r $<
	rm -rf build/$*/bin
	find build/$* -depth -type d \( -name tests -o -name testing \) -path '*/numpy/*' -exec rm -rf {} +
	find build/$* -name '*.pyi' -delete
	rm -rf build/$*/onnxruntime/{transformers,tools,quantization,datasets}  # model tooling, not inference
	if [ -f layers/$*/services.txt ]; then $(PYTHON) scripts/slim_botocore.py build/$* layers/$*/services.txt; fi
	$(PYTHON) scripts/build_zip.py $@ build/$* python/ --python $(LAMBDA_PYTHON) --root /opt
	@echo "$@: $$(du -sm build/$* | cut -f1) MB unzipped, $$(du -m $@ | cut -f1) MB zipped"

test: install localstack-up ## Run every test tier (unit, integration on LocalStack, Terraform) and tf-check
	$(LOCAL_AWS) $(PY) -m pytest tests
	$(MAKE) tf-check

test-unit: install ## Unit tests only (no LocalStack needed)
	$(LOCAL_AWS) $(PY) -m pytest tests/unit

test-integration: install localstack-up ## Integration tests over HTTP against the local server and LocalStack
	$(LOCAL_AWS) $(PY) -m pytest tests/integration

test-infra: install ## Terraform tests: static checks and the real apply of both examples to a moto server
	$(LOCAL_AWS) $(PY) -m pytest tests/infra

fuzz: install localstack-up ## Fuzz every route through the local server: 10,000 random/hostile requests each, counts per status
	$(LOCAL_AWS) FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-10000} FUZZ_CHECK_S3=0 FUZZ_RANDOM=1 $(PY) -m pytest -q -s -p no:cacheprovider tests/integration/test_fuzz.py

test-deploy: install ## Only the real apply -> no-drift plan -> destroy of both examples (moto server, ~2 min)
	$(LOCAL_AWS) $(PY) -m pytest -m deploy tests/infra

lint: install ## ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

localstack-up: ## Start LocalStack (Docker if it runs, else a host process); idempotent
	@scripts/localstack.sh up

localstack-down: ## Stop the LocalStack this project started
	@scripts/localstack.sh down

AUTH ?= none
serve: install localstack-up ## Serve the API at http://$(HOST):$(PORT) (offline fakes without credentials; AUTH=api_key for keys)
	$(LOCAL_AWS) $(PY) -m localdev.serve --host $(HOST) --port $(PORT) --auth $(AUTH)

screenshots: install localstack-up ## Run the playground's browser tests and copy their screenshots to docs/screenshots (the README's)
	$(LOCAL_AWS) $(PY) -m pytest -q tests/integration/test_playground.py
	mkdir -p docs/screenshots && cp build/screenshots/*.png docs/screenshots/

api-key: install localstack-up ## Mint a key for make serve AUTH=api_key: make api-key NAME=me [DAYS=90] [BUDGET_USD_DAY=5] [BUDGET_USD_MONTH=50] [RPM=30] [MODELS=a,b]; printed once
	@test -n "$(NAME)" || { echo "usage: make api-key NAME=<who uses it> [DAYS=90] [BUDGET_USD_DAY=5] [BUDGET_USD_MONTH=50] [RPM=30] [MODELS=sd3.5-large,flux-schnell]"; exit 2; }
	@$(LOCAL_AWS) $(PY) scripts/keys.py create --name "$(NAME)" $(if $(DAYS),--days $(DAYS)) \
	  $(if $(BUDGET_USD_DAY),--budget-usd-day $(BUDGET_USD_DAY)) $(if $(BUDGET_USD_MONTH),--budget-usd-month $(BUDGET_USD_MONTH)) \
	  $(if $(RPM),--rpm $(RPM)) $(if $(MODELS),--models $(MODELS))

keys: install localstack-up ## The operator's keys for make serve: make keys ARGS="list | show ID | set ID --rpm 30 | revoke ID" (real AWS: scripts/keys.py --aws --bucket ...)
	@$(LOCAL_AWS) $(PY) scripts/keys.py $(ARGS)

smoke: install ## After terraform apply: make smoke URL=<api_url> KEY=<api key> [YES=1] checks the deployment end to end (asks before it spends)
	@test -n "$(URL)" || { echo "usage: make smoke URL=<terraform output api_url> KEY=<api key> [YES=1]"; exit 2; }
	@$(if $(KEY),IMAGEGEN_API_KEY="$(KEY)") $(PY) scripts/smoke.py --url "$(URL)" $(if $(YES),--yes)

docs: install ## Write every generated doc: the model table, the contract, Terraform's tables, the routes, functions and metrics
	$(PY) scripts/catalog_docs.py
	$(PY) scripts/openapi.py
	$(PY) scripts/tf_docs.py
	$(PY) scripts/docs.py

tf-check: ## terraform fmt, init (registry or offline mirror), validate (root + examples), checkov
	@scripts/tf-check.sh

bench: install localstack-up ## Cost, speed and memory against baselines from the same run (table + bench/results.json)
	@# cold starts import the layers here, so they are built for this machine's architecture
	$(MAKE) --no-print-directory build ARCH=$(HOST_ARCH)
	$(LOCAL_AWS) $(PY) -m bench $(BENCH_ARGS)

deploy: build ## terraform apply to your AWS account (your profile, SSO or environment credentials, as they are)
	scripts/tf-init.sh $(TF_DIR)
	$(TF) -chdir=$(TF_DIR) apply -var architecture=$(ARCH)

# LocalStack Pro (apigatewayv2) gets the deployment; the free edition cannot run it (no HTTP API,
# no Lambda without Docker), so the same Terraform goes to a moto server instead and says so.
deploy-local: install localstack-up ## Apply terraform/ locally: LocalStack Pro if it has apigatewayv2, else a moto server
	@export $(LOCAL_AWS); if curl -fsS "$$AWS_ENDPOINT_URL/_localstack/health" | grep -q '"apigatewayv2"'; then \
	  command -v tflocal >/dev/null || { echo "tflocal is not installed: pip install terraform-local"; exit 1; }; \
	  $(MAKE) --no-print-directory build && cd $(TF_DIR) && tflocal init && tflocal apply -auto-approve -var architecture=$(ARCH); \
	else \
	  echo "This LocalStack has no API Gateway v2 (HTTP API): deploying to a moto server instead."; \
	  $(PY) -m localdev.emulator --arch $(ARCH); \
	fi

ci: ## What CI runs: make test, then always collect logs and stop LocalStack; returns the tests' exit code
	@status=0; $(MAKE) test || status=$$?; \
	  tail -n 40 .localstack/localstack.log 2>/dev/null > .localstack/ci-tail.log || true; \
	  scripts/localstack.sh down || true; exit $$status

clean: ## Remove build output (dist/, build/) and caches
	rm -rf dist build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './.venv/*' -not -path './.tools/*' -prune -exec rm -rf {} +
