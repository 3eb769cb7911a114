#!/usr/bin/env bash
# Fine-tune the default run on a GPU machine in several variants at once, for SECONDS, from a pack
# made here with
#
#   python scripts/gpu_transport.py pack RUN_ROOT/default-style64 RUN_ROOT/celeba64c gpu/pack
#
# then, on the GPU machine, from the repository root (see continue_on_gpu.sh for what python3 needs):
#
#   OUT=DIR scripts/finetune_on_gpu.sh gpu/pack SECONDS NAME:BATCH:LR [NAME:BATCH:LR ...]
#
# Each variant is a new run that starts from the packed checkpoint (`facegen train --init`) with its
# own batch and learning rate; everything else is the default run's recipe, R1 weight included
# (its default scales with 1/batch, and a fine-tune should not change the regulariser). The
# variants share the GPU: one small model leaves it mostly idle, so they cost little more than one.
# They stop with SIGINT after SECONDS; OUT receives each one's weights (gpu_transport.py slim,
# ~12 MB: `facegen train --init OUT/NAME.safetensors` trains on from it) and their logs and samples.
# Run it again on the same machine to train on from there.
set -u
pack=${1:?usage: OUT=DIR $0 PACK SECONDS NAME:BATCH:LR...}; seconds=${2:?usage: OUT=DIR $0 PACK SECONDS NAME:BATCH:LR...}
shift 2
: "${OUT:?set OUT to the folder that receives the weights}"
R=${RUNS:-/tmp/runs}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, cv2, tqdm, safetensors; from PIL import features; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'webp', features.check('webp'))" || exit 3
[ -d $R/default-style64/checkpoints ] || python3 scripts/gpu_transport.py unpack "$pack" $R || exit 4
terms="CelebA terms: non-commercial research purposes only"
start=$(date +%s)
names=()
for variant in "$@"; do
    IFS=: read -r name batch lr <<< "$variant"
    names+=("$name")
    timeout -s INT -k 40 "$seconds" python3 -m facegen train $R/celeba64c --out "$R/$name" --init $R/default-style64 \
        --batch "$batch" --lr "$lr" --r1-gamma 0.0256 --augment-p 0.3 --kimg 100000 --snapshot-kimg 100 \
        --sample-kimg 100 --precision fp32 --no-progress --no-tensorboard --device "${DEVICE:-cuda}" \
        --name facegen-default-style64 --license "$terms" \
        --description "Style-based generator, 64x64, trained on 24k CelebA aligned faces, fine-tuned on a GPU" \
        > "$R/$name.log" 2>&1 &
done
wait
echo "trained for $(( $(date +%s) - start )) s"
for name in "${names[@]}"; do
    echo "== $name"; tail -3 "$R/$name.log"; tail -1 "$R/$name/log.jsonl"
    python3 scripts/gpu_transport.py slim "$R/$name" "$OUT/$name.safetensors"
done
tar czf "$OUT/logs.tgz" -C $R "${names[@]/%/.log}" $(for n in "${names[@]}"; do echo "$n/log.jsonl $n/losses.png $n/samples"; done)
ls -la "$OUT"
