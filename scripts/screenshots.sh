#!/usr/bin/env bash
# Regenerates every panel screenshot in assets/screenshots/ (see scripts/screenshot.sh for
# what each needs). The demo set-up is prepared on the first one if missing; the training
# screenshot trains `models/runs/screenshot-run` for a minute (removed first) and prints the
# UI's frame times while it trains.
set -euo pipefail
cd "$(dirname "$0")/.."
out=assets/screenshots
mkdir -p "$out"
shot() { WAIT_S=$1 scripts/screenshot.sh "$out/$2" "${@:3}"; }
shot "${FIRST_WAIT_S:-150}" viewer.png demo-0059 --slice 18
shot 60 compare_why_similar.png demo-0059 --slice 14 --compare demo-0143 --explain
shot 45 text_query.png demo-0059 --slice 18 --query "acute infarct in the left MCA territory"
shot 45 matrix.png demo-0059 --tab matrix
shot 45 map.png demo-0059 --tab map
rm -rf models/runs/screenshot-run
shot 100 training.png "" --tab training --train screenshot-run --frame-stats
