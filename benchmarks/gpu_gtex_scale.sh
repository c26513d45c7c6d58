#!/usr/bin/env bash
# PMI at GTEx scale on a CUDA device (issue 13), prepared to run as one short
# job on a machine with a GPU, from the repository root:
#
#     bash benchmarks/gpu_gtex_scale.sh OUTPUT_DIR
#
# 1. a CUDA sanity check (device name, bfloat16 support);
# 2. PMI in place on the synthetic GTEx-scale set (15,201 x 12,557, 49
#    tissues, 50% MCAR), float32 and bfloat16 autocast, one repeat each,
#    through the harness (workers spawn: CUDA is initialised in the parent).
# Results: OUTPUT_DIR/gpu_float32.json and OUTPUT_DIR/gpu_bfloat16.json
# (records with the machine and the GPU), tables beside them. Writes nothing
# else. About 2-4 minutes on one H200; KNN stays on the CPU benchmark
# (benchmarks/results/speed.json), whose extrapolated time is the comparison.
set -euo pipefail
out="${1:?usage: bash benchmarks/gpu_gtex_scale.sh OUTPUT_DIR}"
mkdir -p "$out"
python - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device"
print("device:", torch.cuda.get_device_name(0),
      "bf16:", torch.cuda.is_bf16_supported())
PY
for precision in float32 bfloat16; do
    python -m benchmarks run --datasets synthetic_gtex_scale --allow-huge \
        --methods PMI --scenarios inplace --repeats 1 --device cuda \
        --time-budget 900 --name "gpu_${precision}" --output-dir "$out" \
        --tables "$out/gpu_${precision}.rst" \
        --precision "$precision"
done
