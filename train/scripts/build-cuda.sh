#!/usr/bin/env bash
# Builds `utx-train --features cuda` without a system CUDA toolkit, from
# NVIDIA's PyPI wheels (CUDA 13.0, matching driver 580). On a machine with a
# normal CUDA install none of this is needed: `cargo build --release -p
# utx-train --features cuda` with CUDA_COMPUTE_CAP set is enough.
#
# Usage: train/scripts/build-cuda.sh [COMPUTE_CAP]   (default 90: H100/H200)
# Result: target/release/utx-train; run it with
#   LD_LIBRARY_PATH=target/cuda-toolkit/root/lib  (plus the driver's libcuda.so.1)
set -euo pipefail
cap=${1:-90}
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$top/target/cuda-toolkit
tk=$work/root
mkdir -p "$tk/lib/stubs"

# 1. The toolkit pieces, pinned (an unpinned nvcc pulls newer nvvm/crt).
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install --quiet --disable-pip-version-check \
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-nvrtc==13.0.88 \
  nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cuda-cccl==13.0.85 \
  nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88
cu13=$("$work/venv/bin/python" -c "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13'))")

# 2. A toolkit-shaped folder: the wheels lack the unversioned library names.
ln -sfn "$cu13/bin" "$tk/bin"
ln -sfn "$cu13/include" "$tk/include"
[ -d "$cu13/nvvm" ] && ln -sfn "$cu13/nvvm" "$tk/nvvm"
for lib in cudart cublas cublasLt nvrtc curand; do
  real=$(ls "$cu13/lib/lib$lib.so."* | sort | head -n 1)
  ln -sf "$real" "$tk/lib/lib$lib.so"
  ln -sf "$real" "$tk/lib/$(basename "$real")"
done

# 3. Link-time stub of the driver library (the real one comes with the GPU
#    driver at run time): every cu* symbol cudarc declares. Never ship it.
cd "$top"
cargo fetch --quiet
sys=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path "*cudarc-0.19*/src/driver/sys/*.rs" | head -n 50)
[ -n "$sys" ] || { echo "cudarc sources not found after cargo fetch" >&2; exit 1; }
grep -hoE "fn cu[A-Za-z0-9_]+" $sys | sort -u | sed -E 's/fn (.*)/void \1(void) {}/' > "$work/libcuda_stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$tk/lib/stubs/libcuda.so" "$work/libcuda_stub.c"

# 4. Build.
export PATH="$tk/bin:$PATH" CUDA_ROOT="$tk" CUDA_HOME="$tk" CUDA_PATH="$tk"
export LIBRARY_PATH="$tk/lib:$tk/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}" CUDA_COMPUTE_CAP="$cap"
cargo build --release -p utx-train --features cuda
echo "built target/release/utx-train with CUDA (compute capability $cap)"
