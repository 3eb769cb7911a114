#!/usr/bin/env bash
# Continue the default style run on a GPU machine for SECONDS, from a pack made here with
#
#   python scripts/gpu_transport.py pack RUN_ROOT/default-style64 RUN_ROOT/celeba64c gpu/pack
#
# then, on the GPU machine, from the repository root (python3 there must have torch, numpy,
# pillow with WebP, safetensors, tqdm and opencv):
#
#   OUT=DIR scripts/continue_on_gpu.sh gpu/pack SECONDS
#
# It stops the run with SIGINT after SECONDS (the trainer saves a checkpoint) and leaves in
# OUT the full checkpoint in 15 MB parts (join with cat), its SHA-256, and the run's log,
# loss curve and sample grids. Run it again on the same machine to train on from there.
set -u
pack=${1:?usage: OUT=DIR $0 PACK SECONDS}; seconds=${2:?usage: OUT=DIR $0 PACK SECONDS}
: "${OUT:?set OUT to the folder that receives the checkpoint}"
R=/tmp/runs
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, cv2, tqdm, safetensors; from PIL import features; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'webp', features.check('webp'))" || exit 3
if [ ! -d $R/default-style64/checkpoints ]; then
    python3 scripts/gpu_transport.py unpack "$pack" $R || exit 4
    [ -f "$pack/log.jsonl" ] && cp "$pack/log.jsonl" $R/default-style64/log.jsonl  # one continuous loss curve
fi
terms="CelebA terms: non-commercial research purposes only"
start=$(date +%s)
# The options are the CPU run's (scripts/train_default.sh): a resume refuses any that change what is computed.
timeout -s INT -k 40 "$seconds" python3 -m facegen train $R/celeba64c --out $R/default-style64 --arch style \
    --channels 256,128,64,32,16 --augment-p 0.3 --kimg 5000 --snapshot-kimg 100 --sample-kimg 50 \
    --precision fp32 --no-progress --no-tensorboard --device cuda --name facegen-default-style64 --license "$terms" \
    --description "Style-based generator, 64x64, trained on 24k CelebA aligned faces, continued on a GPU" 2>&1 | tail -20
echo "train exit ${PIPESTATUS[0]} after $(( $(date +%s) - start )) s"
tail -3 $R/default-style64/log.jsonl
ck=$(ls $R/default-style64/checkpoints/step-*.safetensors | tail -1)
split -b 15000000 -d "$ck" "$OUT/ckpt.part"
(basename "$ck"; sha256sum "$ck") > "$OUT/info.txt"
tar czf "$OUT/logs.tgz" -C $R/default-style64 log.jsonl losses.png samples
ls -la "$OUT"; cat "$OUT/info.txt"
