# nbpipe: `make test` runs every test, `make run` runs the demo: nbpipe serve on
# local repositories, the bundled notebooks pushed, the DAG commit printed.
GO ?= go
STATICCHECK_VERSION := v0.8.2

.PHONY: test test-go pyenv run bench lint build

build:
	$(GO) build -o bin/nbpipe ./cmd/nbpipe

## test: every test. scripts/gitea.sh builds a real Gitea once (for the
## end-to-end webhook test) and scripts/pyenv.sh installs the Python tier
## (real Airflow 3, ruff, black, PySpark), both cached in ~/.cache/nbpipe;
## scripts/python312.sh finds a CPython 3.12 for the differential syntax test
## (pyenv's, or Pyodide's on Node when the machine has none).
test:
	$(GO) vet ./...
	bash scripts/gitea.sh install >/dev/null
	NBPIPE_VENV="$$(scripts/pyenv.sh)" NBPIPE_PYTHON312="$$(scripts/python312.sh)" NBPIPE_E2E=1 \
		$(GO) test -count=1 -timeout 60m ./...

## test-go: the Go tests alone; Python-tier tests skip without NBPIPE_VENV.
test-go:
	$(GO) test ./...

run:
	$(GO) run ./cmd/nbpipe demo

bench:
	bash bench/bench.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
