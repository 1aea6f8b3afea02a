#!/usr/bin/env bash
# Verdict soak (not in CI): many fresh seeds of `zabkit test --nemesis all` (every fault package
# interleaved) on 5 nodes, on the correct server (must be 0 invalid, 0 crashed), then with each
# planted bug (each must be caught: invalid). Prints one line per run and a tally per server, with
# the reason of every unknown or crashed run and the anomalies of every invalid one (from each run's
# results.json). Figures go into bench/README.md.
#
# It loops `zabkit test` (written before `zabkit nightly --nemesis all` meant the same interleaved
# package; `zabkit nightly --nemesis all --seeds N` now runs the same cells, with a summary).
#
#   bench/soak.sh [OUT_DIR] [SEEDS] [TIME_LIMIT_S] [BUG_SEEDS]
#   defaults:     soak      30      60             5
# Needs `npm run build`. One run takes about TIME_LIMIT + 40 s (setup, warm-up, heal, final phase,
# final reads).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-soak}"
seeds="${2:-30}"
limit="${3:-60}"
bug_seeds="${4:-5}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
zabkit="$(node -p "require('./package.json').bin.zabkit")"

# one run: prints "seed verdict detail" and appends it to $out/<label>.tsv
run() {
  local label="$1" seed="$2"; shift 2
  local store="$out/$label"
  node "$zabkit" test --nodes 5 --time-limit "$limit" --nemesis all --seed "$seed" --store "$store" --name "$label" "$@" > "$out/$label-$seed.log" 2>&1
  local code=$?
  local detail
  detail="$(node -e '
    const fs = require("fs");
    const f = process.argv[1];
    if (!fs.existsSync(f)) { console.log("no results.json"); process.exit(0); }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    const anomalies = Object.entries(r.anomalies ?? {}).map(([k, v]) => `${k} ${v.count}`).join(", ");
    const guards = (r.stats?.guards ?? []).join("; ");
    console.log([r.crashed ? `crashed: ${r.crashed}` : "", anomalies, r.reason ?? "", guards].filter(Boolean).join(" | ").slice(0, 300));
  ' "$store/$label/latest/results.json" 2>/dev/null)"
  local verdict
  case "$code" in 0) verdict=valid ;; 1) verdict=invalid ;; 2) verdict=unknown ;; 255) verdict=crashed ;; *) verdict="exit-$code" ;; esac
  printf '%s\t%s\t%s\n' "$seed" "$verdict" "$detail" | tee -a "$out/$label.tsv"
}

tally() {
  echo "  $1: $(cut -f2 "$out/$1.tsv" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')"
}

fresh_seed() { node -e 'console.log(require("crypto").randomInt(1, 2 ** 31))'; }

echo "soak: correct server, $seeds seeds x $limit s, --nemesis all, 5 nodes (out: $out)"
: > "$out/correct.tsv"
for _ in $(seq "$seeds"); do run correct "$(fresh_seed)"; done
tally correct

for bug in ack-before-fsync commit-without-quorum skip-truncate no-epoch-persist deliver-before-commit; do
  echo "soak: --bug $bug, $bug_seeds seeds x $limit s"
  : > "$out/$bug.tsv"
  for _ in $(seq "$bug_seeds"); do run "$bug" "$(fresh_seed)" --bug "$bug"; done
  tally "$bug"
done
