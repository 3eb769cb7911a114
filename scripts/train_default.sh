#!/usr/bin/env bash
# Re-make the bundled models from CelebA with facegen's own commands.
#
#   scripts/train_default.sh CELEBA_DIR RUN_ROOT [STYLE_KIMG] [CLASSIC_KIMG] [FINETUNE_KIMG] [GROW_KIMG]
#
# CELEBA_DIR holds train/ and test/ (aligned 178x218 JPEGs, see ../shared/data/README.md);
# RUN_ROOT (outside the repo) receives the prepared dataset, the run folders and the metrics.
# Re-running resumes both trainings from their newest checkpoints. The two runs go side by
# side, one core and one thread each: on a 2-core CPU that beats two threads per run, because
# oneDNN's threads spin and lose badly to any other load.
# CelebA's terms: non-commercial research purposes only; the models inherit them.
# The bundled default went part of the way on GPUs (scripts/gpu_transport.py, continue_on_gpu.sh, finetune_on_gpu.sh);
# facegen/assets/default.md gives the exact legs.
set -euo pipefail
data=${1:?usage: $0 CELEBA_DIR RUN_ROOT [STYLE_KIMG] [CLASSIC_KIMG] [FINETUNE_KIMG]}
root=${2:?usage: $0 CELEBA_DIR RUN_ROOT [STYLE_KIMG] [CLASSIC_KIMG] [FINETUNE_KIMG]}
style_kimg=${3:-1161}
classic_kimg=${4:-2000}
finetune_kimg=${5:-1557}
grow_kimg=${6:-1000}
[ -d "$data/train" ] || { echo "$data/train: no such folder (CelebA aligned photos expected)" >&2; exit 2; }
mkdir -p "$root"
terms="CelebA terms: non-commercial research purposes only"

# Already-aligned crops: keep them, framed tighter on the face (0.8 of the width, centred).
[ -f "$root/celeba64c/dataset.json" ] || \
    facegen prepare "$data/train" "$root/celeba64c" --size 64 --aligned --crop 0.8
# The test photos framed the same way, so FID compares like with like.
[ -f "$root/celeba64c_test/dataset.json" ] || \
    facegen prepare "$data/test" "$root/celeba64c_test" --size 64 --aligned --crop 0.8

OMP_NUM_THREADS=1 facegen train "$root/celeba64c" --out "$root/default-style64" --arch style \
    --channels 256,128,64,32,16 --augment-p 0.3 --kimg "$style_kimg" --snapshot-kimg 10 --sample-kimg 10 \
    --precision fp32 --no-progress --name facegen-default-style64 --license "$terms" \
    --description "Style-based generator, 64x64, trained on 24k CelebA aligned faces on a 2-core CPU" &
OMP_NUM_THREADS=1 facegen train "$root/celeba64c" --out "$root/classic-dcgan64u" --arch dcgan \
    --latent-dist uniform01 --channels 256,128,64,32 --augment-p 0.3 --kimg "$classic_kimg" \
    --snapshot-kimg 20 --sample-kimg 20 --precision fp32 --no-progress --no-tensorboard \
    --name facegen-classic-dcgan64 --license "$terms" \
    --description "DCGAN generator, 64x64, latent: 100 uniform values in [0, 1) as the classic Keras script feeds it; trained on 24k CelebA aligned faces on a 2-core CPU" &
wait

# Then the style run goes on as a fine-tune at batch 128, the same learning rate and R1 weight
# (its default scales with 1/batch): the bundled default's 1,008 kimg of this on an H200
# (scripts/finetune_on_gpu.sh) and 549 kimg on a CPU core took FID from 28.0 to 21.4 (5k samples).
OMP_NUM_THREADS=1 facegen train "$root/celeba64c" --out "$root/default-ft" --init "$root/default-style64" \
    --batch 128 --lr 0.0025 --r1-gamma 0.0256 --augment-p 0.3 --kimg "$finetune_kimg" --snapshot-kimg 10 \
    --sample-kimg 20 --precision fp32 --no-progress --no-tensorboard --name facegen-default-style64 \
    --license "$terms" --description "Style-based generator, 64x64, trained on 24k CelebA aligned faces"

# Export the EMA generators (also what an interrupted run's newest checkpoint gives).
facegen export-model "$root/default-ft" --out "$root/default64.safetensors"
facegen export-model "$root/classic-dcgan64u" --out "$root/classic.safetensors"
for m in default64 classic; do
    facegen metrics "$root/$m.safetensors" --real "$root/celeba64c_test" --train "$root/celeba64c" \
        --num 5000 --out "$root/metrics-$m" --overwrite
done

# The 128-px default: the 64-px model grown by one block (256,128,64,32,16 + 16 at 128x128). Its own
# five blocks and mapping stay fixed (--freeze-g 5): with every layer learning against the fresh D
# its faces broke within 48 kimg. bf16 autocast: 1.85x fp32 on the Zen4 core it was trained on.
[ -f "$root/celeba128c/dataset.json" ] || \
    facegen prepare "$data/train" "$root/celeba128c" --size 128 --aligned --crop 0.8
[ -f "$root/celeba128c_test/dataset.json" ] || \
    facegen prepare "$data/test" "$root/celeba128c_test" --size 128 --aligned --crop 0.8
OMP_NUM_THREADS=1 facegen train "$root/celeba128c" --out "$root/default128-frozen" --init "$root/default64.safetensors" \
    --resolution 128 --freeze-g 5 --lr 0.002 --augment-p 0.3 --kimg "$grow_kimg" --snapshot-kimg 8 --sample-kimg 8 \
    --precision bf16 --no-progress --no-tensorboard --name facegen-default-style128 --license "$terms" \
    --description "Style-based generator, 128x128, grown from the 64-px default and trained on 24k CelebA aligned faces on a CPU"
facegen export-model "$root/default128-frozen" --out "$root/default128.safetensors"
facegen metrics "$root/default128.safetensors" --real "$root/celeba128c_test" --train "$root/celeba128c" --train-num 2000 \
    --num 5000 --out "$root/metrics-default128" --overwrite
# What 128 px bought: the 64-px model's faces upscaled with Lanczos, against the same photos.
facegen metrics "$root/default64.safetensors" --real "$root/celeba128c_test" --train "$root/celeba128c" --train-num 2000 \
    --num 5000 --resolution 128 --out "$root/metrics-default64-up128" --overwrite
# The grown block over-draws creases and skin texture; at 1,000 samples against 2,000 training photos
# its toRGB scaled by 0.7 scored FID 48.5 / KID 28.1 / precision 0.54 / recall 0.12 (1.0: 52.4 / 31.2 /
# 0.54 / 0.12; 0.5: 48.4 / 29.7 / 0.49 / 0.12; the 64-px model resized: 48.0 / 31.6 / 0.41 / 0.10).
# So the 128-px model with that gain is `default` (and `default128`); the 64-px one stays as default64.
g128=(--top-rgb-gain 0.7 --description "Style-based generator, 128x128: the bundled 64-px default with a 128-px block grown on top and trained for 300.8 kimg on 24k CelebA aligned faces on one CPU core (the 64-px blocks and mapping kept fixed), that block's toRGB scaled by 0.7")
python "$(dirname "$0")"/bundle_model.py "$root/default64.safetensors" default64
python "$(dirname "$0")"/bundle_model.py "$root/default128.safetensors" default "${g128[@]}"
# Named directions found on each model's own faces (the 64-px model's would also hold on the 128-px one,
# W being the same, but these are chosen by trial on the pictures the sliders move); default128 gets default's.
FACEGEN_HOME="$root/home" facegen directions default --named
cp "$root/home/default.named.safetensors" "$(dirname "$0")"/../facegen/assets/default.named.safetensors
FACEGEN_HOME="$root/home" facegen directions default64 --named
cp "$root/home/default64.named.safetensors" "$(dirname "$0")"/../facegen/assets/default64.named.safetensors
FACEGEN_HOME="$root/home" python "$(dirname "$0")"/bundle_model.py "$root/default128.safetensors" default128 "${g128[@]}" --named-from default
python "$(dirname "$0")"/bundle_model.py "$root/classic.safetensors" classic
python "$(dirname "$0")"/bundled_references.py
