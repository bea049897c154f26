#!/usr/bin/env bash
# A screenshot of the viewer in a virtual X display, rendered by wgpu on Mesa's lavapipe
# (Vulkan on the CPU): no GPU or monitor needed.
#
#   scripts/screenshot.sh [OUT.png] [STUDY_ID] [extra `brainclip view` flags...]
#
# Needs Debian's xvfb, imagemagick and mesa-vulkan-drivers (installed when missing, as root).
# WAIT_S (default 120) is how long the viewer gets to prepare the demo set-up, index the
# cohort and draw before the capture.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-assets/viewer.png}
study=${2:-}
shift $(( $# > 2 ? 2 : $# ))
need=()
for pkg in xvfb imagemagick mesa-vulkan-drivers; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
cargo build --release --locked
display=:${DISPLAY_NUM:-97}
Xvfb "$display" -screen 0 1500x900x24 >/dev/null 2>&1 &
xvfb=$!
app=
trap 'kill $app $xvfb 2>/dev/null || true; rm -rf "${settings:-}"' EXIT
sleep 2
# A fresh settings folder: what an earlier launch persisted (tab, convention) stays out.
settings=$(mktemp -d)
DISPLAY=$display WGPU_BACKEND=${WGPU_BACKEND:-vulkan} XDG_DATA_HOME=$settings \
    target/release/brainclip view ${study:+--study "$study"} "$@" &
app=$!
sleep "${WAIT_S:-120}"
kill -0 "$app" 2>/dev/null || { echo "error: the viewer exited early" >&2; exit 1; }
DISPLAY=$display import -window root "$out"
echo "wrote $out"
