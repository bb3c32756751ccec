#!/usr/bin/env bash
# nbpipe's conversion speed and memory against the seed (jupyterlab-pipelines
# 0.1.0), on the shared corpus. Run from the repo root (`make bench`):
#
#   bench/bench.sh [--seed-only | --nbpipe-only]
#
# nbpipe half:
#   go build -o bin/nbpipe ./cmd/nbpipe
#   go test -run '^$' -bench BenchmarkConvertCorpus -benchmem -count 3 ./convert
#     -> best MB/s (the benchmark calls b.SetBytes(corpus bytes)) and ns/op;
#        notebooks/s = (*.ipynb files in the corpus) / (ns/op).
#        NBPIPE_CORPUS is exported as the corpus's absolute path for it.
#   peak RSS of `bin/nbpipe convert --out DIR --json CORPUS` (its exit status is
#     ignored: some corpus notebooks are refused by design)
#   added RSS = peak RSS converting a BIG_MB notebook (bench/mkbig.py) minus
#     peak RSS converting a tiny one (both must convert, exit 0)
# seed half:
#   bench/seed_env.sh (cached venv), then bench/seed_bench.py on the same corpus,
#   and on the same big/tiny notebooks for its added RSS (shown, not judged).
# Targets: nbpipe notebooks/s >= 50x the seed's; nbpipe >= 200 MB/s;
#          added RSS for the big notebook <= 150 MB; conversion within 10%
#          of commit b2e803d's (bench/baseline.sh).
#
# Exit: 0 all targets PASS (or the one half asked for ran), 1 a target FAILed,
#       2 something could not be measured (e.g. the Go side does not exist yet).
# Env: NBPIPE_CORPUS (default ../shared/corpus/notebooks), SEED_ITERATIONS (5),
#      GO_BENCH_COUNT (3), BIG_MB (100), NBPIPE_CACHE (see bench/seed_env.sh).
set -euo pipefail

mode=all
case "${1:-}" in
  "") ;;
  --seed-only) mode=seed ;;
  --nbpipe-only) mode=nbpipe ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "bench: unknown argument: $1 (try --help)" >&2
    exit 2
    ;;
esac

[[ -f bench/seed_bench.py && -f bench/mkbig.py ]] || {
  echo "bench: run me from the repository root (bench/ not found here)" >&2
  exit 2
}

corpus="${NBPIPE_CORPUS:-../shared/corpus/notebooks}"
seed_iters="${SEED_ITERATIONS:-5}"
go_count="${GO_BENCH_COUNT:-3}"
big_mb="${BIG_MB:-100}"

if [[ ! -d "$corpus" ]]; then
  echo "bench: corpus not found at $corpus (set NBPIPE_CORPUS)" >&2
  exit 2
fi
corpus_abs="$(cd "$corpus" && pwd)"
n_notebooks="$(find "$corpus_abs" -type f -name '*.ipynb' | wc -l | tr -d ' ')"
corpus_bytes="$(find "$corpus_abs" -type f -name '*.ipynb' -printf '%s\n' | awk '{s+=$1} END {print s+0}')"
if [[ "$n_notebooks" -eq 0 ]]; then
  echo "bench: no *.ipynb under $corpus_abs" >&2
  exit 2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/nbpipe-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

say() { printf '== %s\n' "$*" >&2; }

echo "corpus: $corpus_abs ($n_notebooks notebooks, $corpus_bytes bytes)"
echo "machine: $(nproc) cores, $(uname -sm), $(python3 --version 2>&1)"

# Big and tiny notebooks, shared by both halves.
say "writing a ${big_mb} MB notebook and a tiny one (bench/mkbig.py)"
python3 bench/mkbig.py "$tmp/big.ipynb" --mb "$big_mb"
python3 bench/mkbig.py "$tmp/tiny.ipynb" --mb 0

# peak_rss_kb OUTFILE CMD...: runs CMD under /usr/bin/time -f %M, leaves the
# peak RSS (KiB) in OUTFILE and returns CMD's exit status. Signals are fatal.
peak_rss_kb() {
  local out="$1"
  shift
  local rc=0
  /usr/bin/time -f '%M' -o "$out.time" "$@" || rc=$?
  if grep -q 'terminated by signal' "$out.time"; then
    echo "bench: $* was killed: $(head -n 1 "$out.time")" >&2
    return 99
  fi
  tail -n 1 "$out.time" >"$out"
  return "$rc"
}

nb_err=""     # why the nbpipe half could not be measured
nb_nbs="" nb_mbs="" nb_ns="" nb_rss="" nb_added=""

nbpipe_half() {
  if ! command -v go >/dev/null; then
    nb_err="go is not on PATH"
    return 1
  fi
  if [[ ! -f go.mod || ! -d cmd/nbpipe ]]; then
    nb_err="cmd/nbpipe does not exist yet: the Go side (cmd/nbpipe, convert.BenchmarkConvertCorpus) is not written"
    return 1
  fi
  if ! grep -qs 'func BenchmarkConvertCorpus' convert/*_test.go; then
    nb_err="convert/*_test.go has no BenchmarkConvertCorpus yet"
    return 1
  fi

  say "go build -o bin/nbpipe ./cmd/nbpipe"
  if ! go build -o bin/nbpipe ./cmd/nbpipe >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    nb_err="go build ./cmd/nbpipe failed (output above)"
    return 1
  fi

  say "go test -run '^\$' -bench BenchmarkConvertCorpus -benchmem -count $go_count ./convert"
  if ! NBPIPE_CORPUS="$corpus_abs" go test -run '^$' -bench 'BenchmarkConvertCorpus' \
    -benchmem -count "$go_count" ./convert >"$tmp/gobench.txt" 2>&1; then
    cat "$tmp/gobench.txt" >&2
    nb_err="go test -bench BenchmarkConvertCorpus failed (output above)"
    return 1
  fi
  grep '^BenchmarkConvertCorpus' "$tmp/gobench.txt" >&2 || true
  # Best run: lowest ns/op, highest MB/s.
  read -r nb_ns nb_mbs < <(awk '
    /^BenchmarkConvertCorpus/ {
      for (i = 2; i < NF; i++) {
        if ($(i+1) == "ns/op" && (ns == "" || $i + 0 < ns + 0)) ns = $i
        if ($(i+1) == "MB/s" && (mb == "" || $i + 0 > mb + 0)) mb = $i
      }
    }
    END { print (ns == "" ? "-" : ns), (mb == "" ? "-" : mb) }' "$tmp/gobench.txt")
  if [[ "$nb_ns" == "-" ]]; then
    nb_err="no BenchmarkConvertCorpus result line in the go test output"
    return 1
  fi
  if [[ "$nb_mbs" == "-" ]]; then
    nb_err="BenchmarkConvertCorpus reports no MB/s: it must call b.SetBytes(corpus bytes)"
    return 1
  fi
  nb_nbs="$(awk -v n="$n_notebooks" -v ns="$nb_ns" 'BEGIN { printf "%.3f", n / (ns / 1e9) }')"

  say "peak RSS: bin/nbpipe convert --json over the corpus (non-zero exit expected)"
  local rc=0
  peak_rss_kb "$tmp/rss_corpus" ./bin/nbpipe convert --out "$tmp/out-corpus" --json "$corpus_abs" \
    >"$tmp/convert-corpus.json" 2>"$tmp/convert-corpus.err" || rc=$?
  if [[ $rc -eq 99 || ! -s "$tmp/rss_corpus" ]]; then
    nb_err="bin/nbpipe convert over the corpus crashed (see above)"
    return 1
  fi
  echo "nbpipe convert over the corpus: exit $rc, $(find "$tmp/out-corpus" -type f 2>/dev/null | wc -l) files written" >&2
  nb_rss="$(cat "$tmp/rss_corpus")"

  say "peak RSS: bin/nbpipe convert on the ${big_mb} MB notebook and on a tiny one"
  local name
  for name in big tiny; do
    rc=0
    peak_rss_kb "$tmp/rss_$name" ./bin/nbpipe convert --out "$tmp/out-$name" "$tmp/$name.ipynb" \
      >"$tmp/convert-$name.out" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
      cat "$tmp/convert-$name.out" >&2
      nb_err="bin/nbpipe convert failed on the $name notebook (exit $rc), so its RSS means nothing"
      return 1
    fi
  done
  nb_added="$(($(cat "$tmp/rss_big") - $(cat "$tmp/rss_tiny")))"
  return 0
}

seed_json="" seed_big_json="" seed_tiny_json="" seed_err=""

seed_half() {
  say "seed venv (bench/seed_env.sh)"
  local venv
  if ! venv="$(bench/seed_env.sh | tail -n 1)" || [[ ! -x "$venv/bin/python" ]]; then
    seed_err="bench/seed_env.sh failed"
    return 1
  fi
  say "seed_bench.py --iterations $seed_iters on the corpus"
  if ! seed_json="$("$venv/bin/python" bench/seed_bench.py --iterations "$seed_iters" "$corpus_abs")"; then
    seed_err="seed_bench.py failed on the corpus"
    return 1
  fi
  echo "$seed_json" >&2
  say "seed_bench.py on the big and the tiny notebook (for its added RSS)"
  if ! seed_big_json="$("$venv/bin/python" bench/seed_bench.py --iterations 1 "$tmp/big.ipynb")" ||
    ! seed_tiny_json="$("$venv/bin/python" bench/seed_bench.py --iterations 1 "$tmp/tiny.ipynb")"; then
    seed_err="seed_bench.py failed on the big/tiny notebook"
    return 1
  fi
  return 0
}

if [[ $mode != seed ]]; then
  if ! nbpipe_half; then
    echo "bench: nbpipe half FAILED: $nb_err" >&2
  fi
fi
if [[ $mode != nbpipe ]]; then
  if ! seed_half; then
    echo "bench: seed half FAILED: $seed_err" >&2
  fi
fi

# Report: table + verdicts (system python3, stdlib only).
export mode n_notebooks corpus_bytes big_mb nb_err seed_err
export nb_nbs nb_mbs nb_ns nb_rss nb_added seed_json seed_big_json seed_tiny_json
rc=0
python3 - <<'PY' || rc=$?
import json, os, sys

e = os.environ
mode = e["mode"]
big_mb = e["big_mb"]

def num(key):
    v = e.get(key, "")
    try:
        return float(v)
    except ValueError:
        return None

def js(key):
    v = e.get(key, "").strip()
    return json.loads(v) if v else None

seed, seed_big, seed_tiny = js("seed_json"), js("seed_big_json"), js("seed_tiny_json")
nb = {
    "nps": num("nb_nbs"),
    "mbs": num("nb_mbs"),
    "rss": num("nb_rss") / 1024 if num("nb_rss") is not None else None,
    "added": num("nb_added") / 1024 if num("nb_added") is not None else None,
}
sd = {}
if seed:
    sd = {"nps": seed["notebooks_per_s"], "mbs": seed["mb_per_s"], "rss": seed["peak_rss_mb"]}
if seed_big and seed_tiny:
    sd["added"] = seed_big["peak_rss_mb"] - seed_tiny["peak_rss_mb"]

def f(v, fmt):
    """format(v, fmt), or "n/a" padded to the same width."""
    if v is not None:
        return format(v, fmt)
    width = fmt.split(".")[0]
    return format("n/a", ">" + width if width else "")

print()
hdr = f"{'tool':<8} {'notebooks/s':>12} {'MB/s':>10} {'peak RSS MiB':>13} {'+RSS ' + big_mb + ' MB nb':>16}"
print(hdr)
print("-" * len(hdr))
if mode != "seed":
    print(f"{'nbpipe':<8} {f(nb['nps'], '12.1f')} {f(nb['mbs'], '10.2f')} {f(nb['rss'], '13.1f')} {f(nb['added'], '16.1f')}")
if mode != "nbpipe":
    print(f"{'seed':<8} {f(sd.get('nps'), '12.2f')} {f(sd.get('mbs'), '10.3f')} {f(sd.get('rss'), '13.1f')} {f(sd.get('added'), '16.1f')}")

def ratio(a, b):
    return a / b if a is not None and b else None

r_nps = ratio(nb["nps"], sd.get("nps"))
r_mbs = ratio(nb["mbs"], sd.get("mbs"))
if mode == "all":
    x = lambda r: "n/a" if r is None else format(r, ".1f") + "x"
    print(f"{'ratio':<8} {x(r_nps):>12} {x(r_mbs):>10}   (nbpipe / seed)")
print()
if seed:
    print(
        f"seed: {seed['converted']}/{seed['notebooks']} converted, {seed['failed']} rejected; "
        f"best of {seed['iterations']}: {seed['seconds']:.3f} s; baseline RSS {seed['baseline_rss_mb']} MiB "
        f"(after importing the seed); MB/s counts converted notebooks' bytes only"
    )
    for reason, count in seed.get("rejects", {}).items():
        print(f"  rejected x{count}: {reason}")
if mode != "seed" and nb["nps"] is not None:
    print(f"nbpipe: best ns/op {e['nb_ns']} for {e['n_notebooks']} notebooks ({e['corpus_bytes']} bytes)")
print()

status = 0
if mode == "seed":
    if not seed:
        print("seed half: FAILED (" + (e["seed_err"] or "no result") + ")")
        status = 2
    sys.exit(status)

def verdict(name, ok, detail):
    global status
    if ok is None:
        print(f"  n/a   {name}: {detail}")
        status = max(status, 2)
    else:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
        if not ok:
            status = max(status, 1)

print("targets:")
if mode == "all":
    verdict(
        "notebooks/s >= 50x the seed",
        None if r_nps is None else r_nps >= 50,
        f"{f(r_nps, '.1f')}x" if r_nps is not None else "not measured",
    )
verdict(
    "MB/s >= 200",
    None if nb["mbs"] is None else nb["mbs"] >= 200,
    f"{f(nb['mbs'], '.1f')} MB/s" if nb["mbs"] is not None else "not measured",
)
verdict(
    f"added RSS for a {big_mb} MB notebook <= 150 MB",
    None if nb["added"] is None else nb["added"] <= 150,
    f"{f(nb['added'], '.1f')} MiB" if nb["added"] is not None else "not measured",
)
if e["nb_err"]:
    print(f"\nnbpipe half FAILED: {e['nb_err']}")
if e["seed_err"]:
    print(f"\nseed half FAILED: {e['seed_err']}")
sys.exit(status)
PY
# Conversion against the commit before issue 7's fidelity work, and the
# syntax check's share of it.
if [[ $mode != seed ]]; then
  echo "== bench/baseline.sh (conversion now vs before the syntax check)"
  NBPIPE_CORPUS="$corpus_abs" bash bench/baseline.sh || rc=$((rc > 0 ? rc : 1))
fi
# The webhook server: ack latency of signed deliveries at 200/s with the
# durable spool, and publish time on a 20,000-file, 10,000-commit target
# against the git CLI doing the same one-file change.
echo "== go run ./internal/bench/serve (intake at 200 deliveries/s; publish on 20k files / 10k commits)"
go run ./internal/bench/serve -rate 200 -seconds 10 -runs 5
# The whole loop against real Gitea, Airflow 3 and Livy: each step's median
# over NBPIPE_LOOP_PUSHES pushes (default 10), and nbpipe's own share.
echo "== the whole loop: push -> DAG commit -> Airflow has it -> run queued -> run finished"
bash scripts/gitea.sh install >/dev/null
NBPIPE_E2E=1 NBPIPE_VENV="$(bash scripts/pyenv.sh)" NBPIPE_LOOP_BENCH="${NBPIPE_LOOP_PUSHES:-10}" \
    go test -count=1 -timeout 60m -run TestWholeLoopSpeed -v ./internal/server/ |
    grep -E 'median|"bench"|--- |^(ok|FAIL)' || rc=1
exit "$rc"

