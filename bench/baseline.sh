#!/usr/bin/env bash
# Conversion throughput against a baseline commit, and the syntax check's
# share of it (issue 7: "within 10% of today's", today being BASELINE_REV,
# the last commit before the fidelity work). Run from the repository root:
#
#   bench/baseline.sh            (called by `make bench`)
#
# Builds convert's test binary at BASELINE_REV (a temporary git worktree) and
# at the work tree, runs BenchmarkConvertCorpus alternately ROUNDS times each
# (so drifting machine load hits both alike), and prints the median ns/op of
# each and their ratio; then BenchmarkCheckPython against the same corpus.
# Exit: 0 within MAX_SLOWDOWN (default 1.10), 1 slower, 2 not measurable.
# Env: NBPIPE_CORPUS, BASELINE_REV (b2e803d), ROUNDS (6), MAX_SLOWDOWN (1.10).
set -euo pipefail
corpus="$(cd "${NBPIPE_CORPUS:-../shared/corpus/notebooks}" 2>/dev/null && pwd)" || {
  echo "baseline: corpus not found (set NBPIPE_CORPUS)" >&2
  exit 2
}
rev="${BASELINE_REV:-b2e803d}"
rounds="${ROUNDS:-6}"
max="${MAX_SLOWDOWN:-1.10}"
git cat-file -e "$rev^{commit}" 2>/dev/null || {
  echo "baseline: commit $rev is not in this clone (a shallow clone?)" >&2
  exit 2
}
tmp="$(mktemp -d "${TMPDIR:-/tmp}/nbpipe-baseline.XXXXXX")"
cleanup() {
  git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
git worktree add -q --detach "$tmp/base" "$rev"
(cd "$tmp/base" && go test -c -o "$tmp/base.test" ./convert)
go test -c -o "$tmp/now.test" ./convert
export NBPIPE_CORPUS="$corpus"
run() { (cd convert && "$1" -test.run '^$' -test.bench "$2" -test.benchtime 2s) | awk -v b="$2" '$1 ~ "^"b { for (i = 2; i < NF; i++) if ($(i+1) == "ns/op") print $i }'; }
for _ in $(seq "$rounds"); do
  run "$tmp/base.test" BenchmarkConvertCorpus >>"$tmp/base.ns"
  run "$tmp/now.test" BenchmarkConvertCorpus >>"$tmp/now.ns"
done
run "$tmp/now.test" BenchmarkCheckPython >"$tmp/syntax.ns"
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
python3 - "$(median "$tmp/base.ns")" "$(median "$tmp/now.ns")" "$(cat "$tmp/syntax.ns")" "$max" "$rev" "$rounds" <<'PY'
import sys
base, now, syntax, limit = (float(x) for x in sys.argv[1:5])
rev, rounds = sys.argv[5], sys.argv[6]
ratio = now / base
print(f"conversion, corpus: baseline {rev} {base/1e6:.2f} ms/op, now {now/1e6:.2f} ms/op (medians of {rounds} alternating runs)")
print(f"  ratio now/baseline: {ratio:.3f} (limit {limit:.2f})")
print(f"  syntax check alone: {syntax/1e6:.2f} ms/op, {100*syntax/now:.1f}% of conversion")
ok = ratio <= limit
print(f"  {'PASS' if ok else 'FAIL'}  conversion within {100*(limit-1):.0f}% of the baseline")
sys.exit(0 if ok else 1)
PY
