#!/usr/bin/env bash
# Run one study and regenerate its figure and table:  simulations/run.sh churn-study [--jobs N]
# Runs `p2pfed sweep simulations/STUDY/sweep.toml` (resumable: finished points are kept), then
# `p2pfed plot` of the sweep into simulations/STUDY/figure.png, and copies the sweep's
# summary.md to simulations/STUDY/results.md.  Run outputs go to runs/STUDY (not committed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
study="${1:?usage: simulations/run.sh STUDY [--jobs N]   (STUDY: $(cd "$here" && ls -d */ | tr -d / | tr '\n' ' '))}"
shift
[ -f "$here/$study/sweep.toml" ] || { echo "error: no study '$study' (expected $here/$study/sweep.toml)" >&2; exit 2; }
p2pfed="${P2PFED:-$root/.venv/bin/p2pfed}"
[ -x "$p2pfed" ] || { echo "error: $p2pfed not found; run 'make install' first" >&2; exit 2; }
cd "$root"
"$p2pfed" sweep "$here/$study/sweep.toml" --out "runs/$study" "$@"
"$p2pfed" plot "runs/$study" -o "$here/$study/figure.png" --title "$study"
sed "s#$root/##g" "runs/$study/summary.md" > "$here/$study/results.md"
echo "figure: simulations/$study/figure.png   table: simulations/$study/results.md"
