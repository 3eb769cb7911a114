"""Record what the bundled models are: their SHA-256 and a small reference image each.

    python scripts/bundled_references.py

Run it only when a bundled model is changed on purpose; tests/test_bundled_models.py
then catches any accidental change of the files or of what they generate.
"""
from __future__ import annotations

import json
from pathlib import Path

from facegen import FaceGenerator
from facegen.imaging import make_grid
from facegen.models.file import BUNDLED

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [0, 1, 2, 3]


def main() -> None:
    table = {}
    for name in BUNDLED:
        pipe = FaceGenerator.from_pretrained(name, precision="fp32")
        grid = make_grid(pipe(seeds=SEEDS, truncation=0.7).images, columns=4)
        path = ROOT / "tests" / "data" / f"bundled_{name}_seeds0-3.png"
        grid.save(path)  # a plain PNG: a test fixture, not an output people see
        table[name] = {"sha256": pipe.model.sha256, "architecture": pipe.config.architecture,
                       "resolution": pipe.config.resolution, "latent_distribution": pipe.config.latent_distribution,
                       "reference": path.name, "seeds": SEEDS, "truncation": 0.7}
        print(name, pipe.model.sha256[:12], path)
    (ROOT / "tests" / "data" / "bundled_models.json").write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
