"""Train the attribute classifier that finds named edit directions, and test it on labelled photos.

    facegen prepare CELEBA/train_labelled TRAIN64 --size 64 --aligned --crop 0.8
    facegen prepare CELEBA/test_labelled TEST64 --size 64 --aligned --crop 0.8
    python scripts/train_attributes.py TRAIN64 attributes_train.csv TEST64 attributes_test.csv

(the framing the bundled models were trained on). Writes facegen/assets/attributes.safetensors
(the test accuracy goes in its header) and bench/results/attributes.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from facegen.attributes.classifier import ASSET, NAMED  # noqa: E402
from facegen.attributes.training import evaluate, labelled_images, train_classifier  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("train_dataset")
    p.add_argument("train_csv")
    p.add_argument("test_dataset")
    p.add_argument("test_csv")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ASSET))
    p.add_argument("--results", default=str(ROOT / "bench" / "results" / "attributes.json"))
    args = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    start = time.perf_counter()
    x_train, y_train = labelled_images(args.train_dataset, args.train_csv)
    x_test, y_test = labelled_images(args.test_dataset, args.test_csv)
    print(f"{len(x_train)} training photos, {len(x_test)} test photos")
    clf = train_classifier(x_train, y_train, args.epochs, width=args.width, seed=args.seed)
    table = evaluate(clf, x_test, y_test)
    clf.meta["test"] = table
    clf.meta["train_seconds"] = round(time.perf_counter() - start, 1)
    clf.save(args.out)
    named = {label: name for name, (label, _) in NAMED.items()}
    print(f"\n{'label':22} {'slider':18} {'acc':>6} {'bal.acc':>7} {'pos':>4}")
    for label, r in table.items():
        print(f"{label:22} {named.get(label, ''):18} {r['accuracy']:6.3f} {r['balanced_accuracy']:7.3f} "
              f"{r['positives']:4d}")
    Path(args.results).write_text(json.dumps({"command": " ".join(sys.argv), "classifier": args.out,
                                              "train_photos": len(x_train), "test_photos": len(x_test),
                                              "seconds": clf.meta["train_seconds"], "test": table}, indent=1) + "\n")
    print(f"\n{args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB), {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
