"""Fine-tuning on your own pictures: `facegen finetune FOLDER --out RUN` (see run.py).

folder.py prepares the photos and holds a seeded part out; quality.py measures snapshots
(KID against the held-out faces, near-copies of training faces); run.py drives the trainer
and keeps the best snapshot; directions.py carries the source's edit directions over.
"""
from .folder import FinetuneError
from .run import FinetuneOptions, finetune

__all__ = ["FinetuneError", "FinetuneOptions", "finetune"]
