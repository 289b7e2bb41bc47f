#!/usr/bin/env bash
# Run every measure of scripts/bench.py at full size, one process each, as BENCHMARKS.md reports.
# usage: scripts/bench_run.sh NAME [CODE_PATH]  -> bench-results/NAME/*.json and bench-results/NAME/run.log
#   CODE_PATH: the hub-publish checkout to measure (default: this one), e.g. a worktree of an older commit.
set -u
cd "$(dirname "$0")/.."
name=$1; code=${2:-$PWD}; out=$PWD/bench-results/$name
mkdir -p "$out"
export PYTHONPATH=$code
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python
run() { echo "### $(date -u +%T) $*"; timeout 1500 "$py" scripts/bench.py "$@" 2>&1 \
  | grep -v "^[WIE]0000\|WARNING: All\|^\s*$\|No files have been\|Model saved to\|To load back\|it/s\]\|B/s\]"; }
{
run warm-load --sizes 0 --json "$out/warm-load-mnist.json"
run warm-load --sizes 1024 --reps 3 --json "$out/warm-load-1g.json"
run save --size-mb 1024 --reps 3 --json "$out/save.json"
run push --size-mb 1024 --reps 3 --json "$out/push.json"
run push-model --size-mb 1024 --reps 3 --json "$out/push-model.json"
run pull --size-mb 1024 --reps 3 --json "$out/pull.json"
run rss --size-mb 1024 --reps 1 --json "$out/rss.json"
run keras-xet --size-mb 1024 --reps 2 --json "$out/keras-xet.json"
run wins --json "$out/wins.json"
echo "### $(date -u +%T) done"
} > "$out/run.log" 2>&1
