#!/usr/bin/env bash
# Install NeuroKube without -e into a fresh virtual environment and run `label` on the
# demo corpus with its defaults (shipped model, runner configuration) from a folder outside
# the clone: the package must find its runner configurations and model as package data.
set -euo pipefail
clone=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$clone"
cd "$work"
"$work/venv/bin/neurokube" demo-corpus --output corpus --records 2 --minutes 1
"$work/venv/bin/neurokube" label --input corpus/edf --output results
test -f results/run.json
ls results/demo/*/*/*/*.csv_bi
