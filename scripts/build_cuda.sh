#!/usr/bin/env bash
# Builds brainclip with `--features cuda` on a machine without a CUDA toolkit (and without a
# GPU): the CUDA 13.0 compiler, headers and libraries come from NVIDIA's PyPI wheels, and a
# stub libcuda.so (every driver entry point of cuda.h, doing nothing) satisfies the linker.
# The binary then runs wherever an NVIDIA driver >= 580 (CUDA 13.0) and the CUDA 13 runtime
# libraries (libcudart, libcublas, libcublasLt, libcurand; e.g. PyTorch's cu130 wheels) are
# found through LD_LIBRARY_PATH.
#
# Usage: scripts/build_cuda.sh [cargo build arguments...]
#   e.g. scripts/build_cuda.sh --release --no-default-features --bin brainclip
# Environment: CUDA_WHEELS_DIR (default ~/.cache/brainclip/cuda13), CUDA_COMPUTE_CAP (default
# 90, Hopper; 80 Ampere, 89 Ada), CARGO_TARGET_DIR (default target-cuda).
# Where a real toolkit is installed, plain `cargo build --features cuda` is all it takes.
set -euo pipefail

root="${CUDA_WHEELS_DIR:-$HOME/.cache/brainclip/cuda13}"
home="$root/cuda"
if [ ! -x "$home/bin/nvcc" ]; then
  mkdir -p "$root/wheels" "$root/unpacked"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux2010_x86_64 --platform manylinux_2_12_x86_64 -d "$root/wheels" \
    nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.88 nvidia-cuda-crt==13.0.88 \
    nvidia-nvvm==13.0.88 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
    nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
  for w in "$root"/wheels/*.whl; do
    python3 -m zipfile -e "$w" "$root/unpacked"
  done
  rm -rf "$home"
  cp -a "$root/unpacked/nvidia/cu13" "$home"
  chmod +x "$home"/bin/* "$home"/nvvm/bin/*
  ln -sfn lib "$home/lib64"
  (cd "$home/lib" && for f in *.so.*; do b="${f%%.so.*}"; [ -e "$b.so" ] || ln -s "$f" "$b.so"; done)
  mkdir -p "$home/lib/stubs"
  python3 - "$home" <<'EOF'
import re, sys
home = sys.argv[1]
names = sorted(set(re.findall(r"\b(cu[A-Z][A-Za-z0-9_]*)\b", open(f"{home}/include/cuda.h").read())))
open(f"{home}/lib/stubs/stub.c", "w").write("".join(f"void {n}(void) {{}}\n" for n in names))
EOF
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$home/lib/stubs/libcuda.so" "$home/lib/stubs/stub.c"
fi

export CUDA_HOME="$home" CUDA_PATH="$home" PATH="$home/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export LIBRARY_PATH="$home/lib/stubs:$home/lib:${LIBRARY_PATH:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target-cuda}"
cd "$(dirname "$0")/.."
exec cargo build --locked --features cuda "$@"
