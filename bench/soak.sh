#!/usr/bin/env bash
# Verdict soak (not in CI): `zabkit nightly` of the interleaved `all` package on 5 nodes over many
# fresh seeds, on the correct server (must be 0 invalid, 0 crashed), then with each planted bug
# (each must be caught: invalid). Prints one line per verdict class and the reasons of every
# unknown run, from each nightly's summary.json. Figures go into bench/README.md.
#
#   bench/soak.sh [OUT_DIR] [SEEDS] [TIME_LIMIT_S] [BUG_SEEDS]
#   defaults:     soak      30      60             5
# Needs `npm run build`. One run takes about TIME_LIMIT + 40 s (setup, warm-up, heal, final phase,
# final reads): 30 seeds of 60 s is about 50 minutes on this machine, each bug 5 seeds about 8.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-soak}"
seeds="${2:-30}"
limit="${3:-60}"
bug_seeds="${4:-5}"
mkdir -p "$out"
zabkit="$(node -p "require('./package.json').bin.zabkit")"

summarise() {
  node -e '
    const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const cells = s.cells ?? s.runs ?? [];
    const by = {};
    for (const c of cells) by[String(c.valid)] = (by[String(c.valid)] ?? 0) + 1;
    console.log(`  ${process.argv[2]}: ${cells.length} runs: ` + Object.entries(by).map(([k, n]) => `${k} ${n}`).join(", "));
    for (const c of cells) {
      if (c.valid === true) continue;
      const why = c.reason ?? c.crashed ?? c.error ?? (c.anomalies ? Object.keys(c.anomalies).join(",") : "");
      console.log(`    seed ${c.seed} ${c.valid}: ${String(why).split("\n")[0].slice(0, 240)}`);
    }
  ' "$1/summary.json" "$2"
}

echo "soak: correct server, $seeds seeds x $limit s, --nemesis all, 5 nodes (out: $out)"
set +e
node "$zabkit" nightly --packages all --seeds "$seeds" --nodes 5 --time-limit "$limit" --out "$out/correct" > "$out/correct.log" 2>&1
echo "  exit $?"
set -e
summarise "$out/correct" correct

for bug in ack-before-fsync commit-without-quorum skip-truncate no-epoch-persist deliver-before-commit; do
  echo "soak: --bug $bug, $bug_seeds seeds x $limit s"
  set +e
  node "$zabkit" nightly --packages all --seeds "$bug_seeds" --nodes 5 --time-limit "$limit" --bug "$bug" --out "$out/$bug" > "$out/$bug.log" 2>&1
  echo "  exit $?"
  set -e
  summarise "$out/$bug" "$bug"
done
