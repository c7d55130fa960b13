#!/usr/bin/env bash
# One command for a GPU machine: builds the CPU and CUDA backends, runs the probe test, the CUDA-vs-CPU
# comparison, the PyTorch/HF correctness checks, the CUDA and PyTorch benchmarks and the dev kernels,
# and writes everything into ONE markdown report.
#
#   scripts/gpu-check.sh [REPORT]        (default docs/gpu-report.md; e.g. $OUT/gpu-report.md)
#
# Never stops at a failure (each step's exit status is recorded), every step runs under `timeout`,
# and the whole run keeps to a budget (GPU_CHECK_BUDGET seconds, default 480): a step that would not
# fit is recorded as skipped. Needs: nvcc, gcc, make; python3 with torch (and numpy) for the PyTorch
# steps; transformers optional. No network.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REPORT="${1:-docs/gpu-report.md}"
case "$REPORT" in /*) ;; *) REPORT="$ROOT/$REPORT" ;; esac
mkdir -p "$(dirname "$REPORT")"
BUDGET="${GPU_CHECK_BUDGET:-480}"
OUTDIR="${GPU_CHECK_BUILD:-$ROOT/build/native}"
LOGDIR="$(mktemp -d /tmp/gpu-check.XXXXXX)"
START=$(date +%s)
JOBS=$(nproc 2>/dev/null || echo 4)
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
declare -a SUMMARY=()

elapsed() { echo $(( $(date +%s) - START )); }

# step NAME TIMEOUT_S MIN_NEEDED_S COMMAND...   (the command runs in a login-free bash)
step() {
  local name="$1" to="$2" need="$3"; shift 3
  local left=$(( BUDGET - $(elapsed) ))
  local log="$LOGDIR/$(echo "$name" | tr -c 'A-Za-z0-9_-' '_').log"
  {
    echo
    echo "## $name"
    echo
  } >>"$REPORT"
  if [ "$left" -lt "$need" ]; then
    echo "skipped: ${left}s left of the ${BUDGET}s budget, the step needs about ${need}s" >>"$REPORT"
    SUMMARY+=("| $name | skipped (budget) | - |")
    echo "[gpu-check] $name: skipped (budget)" >&2
    return 0
  fi
  [ "$to" -gt "$left" ] && to="$left"
  echo "[gpu-check] $name (timeout ${to}s) ..." >&2
  local t0=$(date +%s)
  timeout -k 10 "$to" bash -c "$*" >"$log" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  local status="ok"
  [ "$rc" -ne 0 ] && status="FAILED (exit $rc)"
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && status="TIMEOUT after ${to}s"
  [ "$rc" -eq 77 ] && status="skipped (exit 77)"
  {
    echo "\`$*\` -> **$status** in ${dt}s"
    echo
    echo '```'
    # long logs: keep the head and the tail
    if [ "$(wc -l <"$log")" -gt 400 ]; then head -n 150 "$log"; echo "... ($(wc -l <"$log") lines, middle cut) ..."; tail -n 240 "$log"; else cat "$log"; fi
    echo '```'
  } >>"$REPORT"
  SUMMARY+=("| $name | $status | ${dt}s |")
  echo "[gpu-check] $name: $status (${dt}s)" >&2
  return 0
}

{
  echo "# spectro GPU check"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), host $(hostname)"
  echo "- commit: $(git -C "$ROOT" rev-parse --verify -q HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (dirty tree)')${GPU_CHECK_NOTE:+ -- $GPU_CHECK_NOTE}"
  echo "- GPU: $(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -n 4 | tr '\n' ';')"
  echo "- nvcc: $(timeout 20 nvcc --version 2>&1 | grep -i release | head -n 1)"
  echo "- gcc: $(gcc --version 2>&1 | head -n 1)"
  echo "- python: $(timeout 60 "$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -n 1)"
  echo "- transformers: $(timeout 60 "$PY" -c 'import transformers; print(transformers.__version__)' 2>&1 | tail -n 1)"
  echo "- cuBLASLt on the loader path: $(ldconfig -p 2>/dev/null | grep -o 'libcublasLt.so[.0-9]*' | sort -u | tr '\n' ' ')"
  echo "- CPU: $(nproc) cores; budget ${BUDGET}s"
} >"$REPORT"

step "build CPU backend" 150 20 "make -C native OUT='$OUTDIR' -j$JOBS"
step "build CUDA backend, tests and bench" 300 60 "make -C kernels OUT='$OUTDIR' WERROR= -j$JOBS all tests bench"
step "probe test" 60 10 "'$OUTDIR/test_probe' '$OUTDIR/libspectro_cuda.so'"
step "ABI argument checks (the same test as the CPU library's, with models on the GPU)" 60 10 "'$OUTDIR/test_abi_checks' '$OUTDIR/libspectro_cuda.so'"
step "CUDA vs CPU" 150 40 "'$OUTDIR/test_cuda_vs_cpu' '$OUTDIR'"
step "correctness vs PyTorch (float64 autograd) and HF transformers" 180 40 "$PY kernels/bench/torch_ref.py correctness --lib '$OUTDIR/libspectro_cuda.so'"
step "CUDA benchmark (bf16)" 200 60 "'$OUTDIR/bench_cuda' --shapes 160m,410m,1.4b --B 16 --T 512 --steps 5 --precision bf16"
step "chi: CUDA bf16 vs fp32 against the sampling error (14m shape)" 150 40 "$PY kernels/bench/chi_precision.py --shape 14m --run '$OUTDIR/libspectro_cuda.so:fp32' --run '$OUTDIR/libspectro_cuda.so:bf16'"
step "chi: CPU fp32 vs CUDA fp32 and bf16 (tiny shape)" 120 40 "$PY kernels/bench/chi_precision.py --shape tiny --T 32 --run '$OUTDIR/libspectro_cpu.so:fp32' --run '$OUTDIR/libspectro_cuda.so:fp32' --run '$OUTDIR/libspectro_cuda.so:bf16'"
step "PyTorch benchmark (bf16, SDPA)" 150 40 "$PY kernels/bench/torch_ref.py bench --shapes 160m,410m,1.4b --B 16 --T 512"
step "CUDA benchmark (fp32 mode, 160m)" 90 30 "'$OUTDIR/bench_cuda' --shapes 160m --B 16 --T 512 --steps 3 --precision fp32"
step "CUDA benchmark (native GEMM fallback, 160m bf16)" 90 30 "SPECTRO_GEMM=native '$OUTDIR/bench_cuda' --shapes 160m --B 16 --T 512 --steps 3 --precision bf16"
step "dev kernels" 120 30 "make -C kernels OUT='$OUTDIR' WERROR= -j$JOBS dev && for p in '$OUTDIR'/dev/*; do echo \"### \$p\"; timeout 30 \"\$p\" || echo \"exit \$?\"; done"

{
  echo
  echo "## Summary"
  echo
  echo "| step | status | time |"
  echo "|---|---|---|"
  for s in "${SUMMARY[@]}"; do echo "$s"; done
  echo
  echo "total $(elapsed)s"
} >>"$REPORT"
echo "[gpu-check] report: $REPORT ($(elapsed)s)" >&2
rm -rf "$LOGDIR"
exit 0
