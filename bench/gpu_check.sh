#!/usr/bin/env bash
# One short check of glitlib on one GPU, ending in one JSON report.
#
#     bash bench/gpu_check.sh [REPORT]      # default: $OUT/gpu_check.json, or ./gpu_check.json
#
# Meant for a machine with one CUDA GPU, in under 5 minutes (every step has its own time
# limit; their sum is 285 s). Without a GPU it stops at once with one line and exit
# status 1: CPU figures must never pass for GPU ones. Steps:
#
#   local_heads  GLiT-Tiny vs timm's DeiT-Tiny, side by side, bf16 autocast, batch 64:
#                images/s and MACs/s ratios, inference and training (bench_local_heads.py)
#   scale        the search's three kinds of work at 224 px against DeiT-Tiny, bf16, and
#                the GPU-hours they imply, measured (bench_scale.py)
#   memory       peak GPU memory of a GLiT-Tiny and a DeiT-Tiny training step, batch 128,
#                fp32 and bf16
#   search       a shrunk two-stage search on digits with --device cuda (summary.json,
#                glit.log, metrics, and TensorBoard where the package is installed)
#   search_bf16  a one-stage search with --precision bf16
#   torchrun     the same under torchrun, --max-restarts=1 ... --resume, one process: NCCL
#                refuses two ranks on one GPU, so the two-rank path is the CPU tests' (gloo)
#   nccl         one NCCL all-reduce under torchrun (a one-process glit run never starts it)
#   loader       bench_loader.py: images/s per worker process on this machine's CPUs
#
# A step that fails or runs out of time is recorded (exit status, last lines of its
# stderr) and the others still run; the script then exits 1 with one line. Set PYTHON
# to choose the interpreter (default: python3).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
REPORT=${1:-${OUT:-.}/gpu_check.json}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PY" bench/gpu_check.py preflight || exit 1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/glit-gpu-check.XXXXXX")
SMALL=(--preset digits --device cuda --quiet --population 10 --generations 2
       --retrain-candidates 2 --rank-sample 1)

# step NAME LIMIT_S COMMAND...: run it, keep its output, record its exit status and time.
step() {
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    local rc=$?
    local took=$((SECONDS - start))
    printf '{"rc": %d, "seconds": %d, "limit_s": %d}\n' "$rc" "$took" "$limit" \
        >"$WORK/$name.step.json"
    echo "gpu_check: $name: exit $rc after ${took} s (limit ${limit} s)" >&2
}

BOARD=()
if "$PY" -c "import tensorboard" 2>/dev/null; then BOARD=(--tensorboard); fi

step local_heads 45 "$PY" bench/bench_local_heads.py --device cuda --dtype bfloat16 \
    --batch 64 --rounds 3 --iters 5 --json "$WORK/local_heads.json"
step scale 45 "$PY" bench/bench_scale.py --device cuda --dtype bfloat16 --batch 64 \
    --rounds 3 --json "$WORK/scale.json"
step memory 25 "$PY" bench/gpu_check.py memory --json "$WORK/memory.json"
step search 60 "$PY" -m glitlib search "${SMALL[@]}" "${BOARD[@]}" --supernet-steps 60 \
    --retrain-steps 40 --out "$WORK/search"
step search_bf16 35 "$PY" -m glitlib search "${SMALL[@]}" --precision bf16 --stages 1 \
    --supernet-steps 40 --retrain-steps 30 --out "$WORK/search_bf16"
step torchrun 35 "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 \
    --max-restarts=1 -m glitlib search "${SMALL[@]}" --stages 1 --supernet-steps 40 \
    --retrain-steps 30 --out "$WORK/torchrun" --resume
step nccl 15 "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 \
    bench/gpu_check.py nccl --json "$WORK/nccl.json"
step loader 25 "$PY" bench/bench_loader.py --images 64 --rounds 2 --workers 0 1 4 \
    --json "$WORK/loader.json"

"$PY" bench/gpu_check.py report --work "$WORK" --out "$REPORT"
