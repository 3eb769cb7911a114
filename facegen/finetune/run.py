"""`facegen finetune FOLDER --out RUN`: a model in the style of a few hundred portraits, in a time budget.

1. The photos are prepared as `facegen prepare` does, and a seeded part held out (folder.py).
2. The trainer starts from a model (`--init`, the bundled default64 unless told) with settings
   for little data: DiffAugment on every image, the mapping network and the first G blocks
   kept fixed, a lower learning rate, a short EMA.
3. Every `eval_kimg` (a few minutes on a CPU) the EMA generator is measured (quality.py):
   KID against the held-out faces and the share of near-copies of training faces. The
   snapshot with the lowest KID is written to RUN/model.safetensors; the run stops when KID
   has not improved for `patience` evaluations, when the time is up, or when near-copies
   pass 1% (then only snapshots from before the copying are kept).
4. The source's edit directions are carried over where they still hold (directions.py).

    RUN/
      dataset/             every face found (its report.json lists the files skipped and why)
      train/ heldout/      the faces trained on, and the seeded share set aside to measure with
      training/            the trainer's folder: checkpoints/, samples/ (a grid every few
                           minutes), log.jsonl, losses.png, model.safetensors (the last snapshot)
      evaluations.jsonl    one row per evaluation
      model.safetensors    the best snapshot
      options.json         the options it was started with (what a re-run must repeat)
      finetune.json        the options, the split, every evaluation, the best, why it stopped

Re-running the same command on the same RUN continues a fine-tune that was killed, interrupted
or ran out of time (a larger --minutes gives it more): the prepared faces, the trainer's newest
checkpoint and every measurement so far are taken up again, and the time already spent (up to
the last measurement) counts against --minutes. A run that stopped because KID stopped improving
or because samples began copying is finished, and says so.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import write_bytes
from ..training.data import TrainingError
from ..training.export import export_generator
from ..training.loop import Trainer
from ..training.options import TrainOptions
from ..training.start import load_start
from .directions import carry_directions
from .folder import HELDOUT_SHARE, MIN_HELDOUT, FinetuneError, all_grey, prepare_folder, reuse_split
from .quality import EVAL_SAMPLES, MEMORISED_LIMIT, QualityMeter


@dataclass
class FinetuneOptions:
    folder: str
    out: str
    init: str | None = "default64"  # None: from scratch, shaped by `train` (the bench's comparison)
    minutes: float = 60.0  # wall-clock budget of the whole command
    kimg: float = 1000.0  # at most this much training, whatever time is left
    # Between evaluations (~2 min for default64 on one free core). Measured on bench/finetune.py's
    # oldphoto domain, every setting tried was best at 5-10 kimg and worse after: measure often.
    eval_kimg: float = 5.0
    eval_samples: int = EVAL_SAMPLES
    patience: int = 4  # evaluations without a better KID before stopping
    heldout_share: float = HELDOUT_SHARE
    min_heldout: int = MIN_HELDOUT
    guard: bool = True  # the memorisation guard
    memorised_limit: float = MEMORISED_LIMIT
    batch: int = 16
    lr: float | None = None  # style 0.001; dcgan 0.0002, its recipe's rate
    augment_p: float = 1.0
    freeze_g: int = 2  # the mapping network and the first N G blocks (4x4, 8x8) stay fixed
    greyscale: bool | None = None  # grey faces; None: when every picture is grey (a style model only)
    # A residual D starts from nothing and, on a few hundred pictures, pushed G to grain within
    # 10 kimg; heads on the attribute classifier's trained features judged faces from the start
    # (bench/finetune.py's sketch domain: KID x1000 153 -> 90 at 5 kimg, and held at 10).
    discriminator: str = "features"
    ema_kimg: float = 2.0
    precision: str = "auto"
    seed: int = 0
    workers: int = 2
    near_duplicates: int | None = None  # `facegen prepare`'s default
    license: str | None = None  # default: the starting model's
    progress: bool = True
    train: dict = field(default_factory=dict)  # more TrainOptions fields (shape for a scratch run)


# Options a re-run may change: they steer the command, not what is trained.
STEERING = ("minutes", "patience", "workers", "progress")
# What a run started before an option existed did: such a run continues as it began.
BEFORE_OPTION = {"discriminator": "residual", "greyscale": False}
# Why a run stopped, when re-running it can take it further (for a spent budget: with more --minutes).
UNFINISHED = ("interrupted", "time budget spent")


class Keeper:
    """Measures snapshots, keeps the best as RUN/model.safetensors, and tells the trainer when to stop."""

    def __init__(self, run: Path, meter, opts: FinetuneOptions, t0: float, deadline: float, say,
                 rows: list[dict] | None = None):
        self.run, self.meter, self.opts, self.t0, self.deadline, self.say = run, meter, opts, t0, deadline, say
        self.rows: list[dict] = []
        self.best: dict | None = None
        self.stale = 0
        self.copying: dict | None = None  # the first evaluation over the near-copy limit
        self.model = run / "model.safetensors"
        for row in rows or []:  # an earlier part of this run, resumed: its verdicts stand
            self.rows.append(row)
            if self.copying is not None:
                continue
            if self.opts.guard and row["flagged"]:
                self.copying = row
            elif self.best is None or row["kid"] < self.best["kid"]:
                self.best, self.stale = row, 0
            else:
                self.stale += 1

    @property
    def last_step(self) -> int | None:
        return self.rows[-1]["step"] if self.rows else None

    def __call__(self, trainer: Trainer) -> dict:
        r = self.meter(trainer.G_ema)
        row = {"step": trainer.step, "kimg": trainer.images_seen / 1000,
               "minutes": (time.monotonic() - self.t0) / 60, **r}
        note = ""
        if self.opts.guard and r["flagged"] and self.copying is None:
            self.copying = row
            trainer.finish("near-copies of training faces")
            kept = f"keeping the snapshot at {self.best['kimg']:.1f} kimg" if self.best else "no snapshot to keep"
            note = (f"WARNING: {100 * r['memorised']:.1f}% of samples are near-copies of training faces "
                    f"(over {100 * self.opts.memorised_limit:g}%): stopping, {kept}")
        elif self.copying is not None:
            note = "after near-copying began: not kept"
        elif self.best is None or r["kid"] < self.best["kid"]:
            self.best, self.stale = row, 0
            self._export(trainer)
            note = f"best so far -> {self.model}"
        else:
            self.stale += 1
            note = f"no better than {1000 * self.best['kid']:.2f} at {self.best['kimg']:.1f} kimg " \
                   f"({self.stale} of {self.opts.patience})"
            if self.stale >= self.opts.patience:
                trainer.finish(f"KID has not improved for {self.stale} evaluations")
        row["note"] = note
        self.rows.append(row)
        with open(self.run / "evaluations.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        samples = sorted((trainer.run_dir / "samples").glob("*.png"))
        self.say(f"{row['kimg']:7.2f} kimg {row['minutes']:6.1f} min  KID x1000 {1000 * r['kid']:7.2f} "
                 f"± {1000 * r['kid_std']:.2f}  near-copies {100 * r['memorised']:4.1f}%  {note}"
                 + (f"\n{'':22}samples: {samples[-1]}" if samples else ""))
        # Leave time for one more evaluation after training stops.
        trainer.deadline = self.deadline - r["seconds"] - 5
        return row

    def _export(self, trainer: Trainer) -> None:
        config = copy.deepcopy(trainer.config)
        config.images_seen = trainer.images_trained
        export_generator(trainer.G_ema, config, self.model)


def _print(text: str) -> None:
    print(text, flush=True)


def _earlier_part(run: Path, opts: FinetuneOptions) -> list[dict] | None:
    """The measurements of the fine-tune RUN holds, when this command continues it; None for a new run."""
    if not run.exists() or (run.is_dir() and not any(run.iterdir())):
        return None
    saved_path = run / "options.json"
    if not run.is_dir() or not saved_path.is_file():
        raise FinetuneError(f"{run}: already exists and is not a fine-tune's folder; give a new --out")
    try:
        saved = json.loads(saved_path.read_text())
    except (OSError, ValueError) as e:
        raise FinetuneError(f"{saved_path}: unreadable ({e}); give a new --out") from None
    now = dataclasses.asdict(opts)
    saved = {**BEFORE_OPTION, **saved}  # an option newer than the run had this value then
    changed = [f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in now if k not in STEERING and saved.get(k) != now[k]]
    if changed:
        raise FinetuneError(f"{run}: a fine-tune started with other options ({'; '.join(changed)}); repeat them to "
                            f"continue it (only {', '.join('--' + k for k in STEERING[:2])} may change), or give a new --out")
    done = run / "finetune.json"
    if done.is_file():
        summary = json.loads(done.read_text())
        stopped = summary.get("stopped", "")
        if stopped not in UNFINISHED:
            raise FinetuneError(f"{run}: this fine-tune is finished ({stopped}); its model is {summary.get('model')}")
        if stopped == "time budget spent" and opts.minutes <= saved.get("minutes", 0):
            raise FinetuneError(f"{run}: this fine-tune spent its {saved.get('minutes'):g} minutes; give a larger "
                                f"--minutes to continue it")
    log = run / "evaluations.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            break  # a line cut short by a kill: what follows it was never written
    return rows


def _write_options(run: Path, opts: FinetuneOptions) -> None:
    write_bytes(run / "options.json", (json.dumps(dataclasses.asdict(opts), indent=1) + "\n").encode(), overwrite=True)


def finetune(opts: FinetuneOptions, tell=_print) -> dict:
    """Run a fine-tune as `opts` says, or continue the one in `opts.out`; returns the summary also
    written to RUN/finetune.json."""
    run = Path(opts.out)
    earlier = _earlier_part(run, opts)
    # The time already spent (up to the last measurement) counts against the budget.
    spent = max((r["minutes"] for r in earlier or []), default=0.0)
    t0 = time.monotonic() - 60 * spent
    deadline = t0 + opts.minutes * 60
    checks = [(opts.minutes > 0, f"--minutes must be positive, got {opts.minutes}"),
              (opts.patience >= 1, f"--patience must be at least 1, got {opts.patience}"),
              (opts.eval_samples >= 2, f"--eval-samples must be at least 2, got {opts.eval_samples}"),
              (0 < opts.heldout_share < 1, f"--heldout must be between 0 and 1, got {opts.heldout_share}")]
    for ok, message in checks:
        if not ok:
            raise FinetuneError(message)
    freeze_g, source = opts.freeze_g, None
    if opts.init is not None:
        try:
            source = load_start(opts.init).config
        except TrainingError as e:
            raise FinetuneError(str(e)) from None
        if source.architecture != "style" and freeze_g:
            tell(f"{opts.init} is a {source.architecture} model: no blocks are kept fixed "
                 f"(--freeze-g applies to style models)")
            freeze_g = 0
    size = source.resolution if source else opts.train.get("resolution") or 64
    arch = source.architecture if source else opts.train.get("arch") or "style"
    lr = opts.lr or (0.001 if arch == "style" else 0.0002)
    discriminator = opts.discriminator if arch == "style" else "residual"

    if earlier is None:
        run.mkdir(parents=True, exist_ok=True)
        _write_options(run, opts)
    else:
        _write_options(run, opts)  # a changed --minutes or --patience is what the next re-run repeats
        tell(f"continuing the fine-tune in {run}: {len(earlier)} measurement(s) so far, {spent:.1f} of "
             f"{opts.minutes:g} min spent")
    split = reuse_split(run) if earlier is not None else None
    if split is None:
        for part in ("dataset", "train", "heldout"):  # what a kill while preparing left: made again
            shutil.rmtree(run / part, ignore_errors=True)
        tell(f"preparing {opts.folder} at {size}x{size} ...")
        from ..data.dedupe import DEFAULT_THRESHOLD

        near = DEFAULT_THRESHOLD if opts.near_duplicates is None else opts.near_duplicates
        split = prepare_folder(opts.folder, run, size, opts.seed, opts.heldout_share, opts.min_heldout,
                               opts.workers, opts.progress, near)
    skipped = sum(split.report["skipped"].values())
    tell(f"{split.n_train + split.n_heldout} faces from {split.report['files_with_faces']} of "
         f"{split.report['files']} files ({skipped} skipped: {run / 'dataset' / 'report.json'}); "
         f"{split.n_heldout} held out to measure with, {split.n_train} to train on")

    greyscale = opts.greyscale if opts.greyscale is not None else arch == "style" and all_grey(split.train)
    if greyscale and opts.greyscale is None:
        tell("the pictures are greyscale, so the model will draw grey faces (--colour to keep colour)")
    how = f"fine-tuned from {opts.init}" if opts.init else "trained from scratch"
    train_opts = dict(dataset=str(split.train), out=str(run / "training"), init=opts.init, kimg=opts.kimg,
                      batch=opts.batch, lr=lr, augment_p=opts.augment_p, freeze_g=freeze_g, discriminator=discriminator,
                      greyscale=greyscale,
                      ema_kimg=opts.ema_kimg, snapshot_kimg=opts.eval_kimg, sample_kimg=opts.eval_kimg / 2,
                      precision=opts.precision, seed=opts.seed, name=run.resolve().name,
                      description=f"{how} on {split.n_train} faces from {Path(opts.folder).name}",
                      license=opts.license or (source.license if source else "unknown"),
                      progress=False, tensorboard=False)
    train_opts.update(opts.train)
    try:
        trainer = Trainer(TrainOptions(**train_opts))
    except TrainingError as e:
        raise FinetuneError(str(e)) from None
    freeze_g = trainer.opts.freeze_g

    tell(f"measuring: Inception features of the training and held-out faces, then {opts.eval_samples} samples "
         f"per evaluation")
    meter = QualityMeter(split.train, split.heldout, size, opts.eval_samples, opts.seed, opts.memorised_limit,
                         cache_dir=run / "features")
    keeper = Keeper(run, meter, opts, t0, deadline, tell, earlier)
    if keeper.rows:
        trainer.deadline = deadline - keeper.rows[-1]["seconds"] - 5  # room for a last measurement
        if keeper.best is not None:
            tell(f"best so far: KID x1000 {1000 * keeper.best['kid']:.2f} at {keeper.best['kimg']:.1f} kimg "
                 f"-> {keeper.model}")
    else:
        tell(f"the starting model ({opts.init or 'random weights'}):")
        keeper(trainer)
    trainer.on_snapshot = keeper
    frozen = f"mapping network and first {freeze_g} G block(s) fixed, " if freeze_g else ""
    judge = ("D: heads on the attribute classifier's frozen features, " if trainer.opts.discriminator == "features"
             else "D: residual, from scratch, ")
    left = max(0.0, deadline - time.monotonic()) / 60
    tell(f"training: batch {trainer.opts.batch}, lr {trainer.opts.lr:g}, DiffAugment p {trainer.opts.augment_p:g}, "
         f"{frozen}{judge}EMA half-life {trainer.opts.ema_kimg:g} kimg; evaluating every {opts.eval_kimg:g} kimg; "
         f"{left:.1f} of {opts.minutes:g} min left; Ctrl-C stops and keeps the best so far")
    result = trainer.run()
    stopped = "interrupted" if result["interrupted"] else result["finished_early"] or f"{opts.kimg:g} kimg reached"
    if not result["interrupted"] and keeper.copying is None and keeper.last_step != trainer.step:
        keeper(trainer)  # the final weights, unless they were just measured
    notes = []
    model = keeper.model if keeper.best is not None else None
    if keeper.copying is not None:
        notes.append(f"near-copies of training faces passed {100 * opts.memorised_limit:g}% at "
                     f"{keeper.copying['kimg']:.1f} kimg; only snapshots before that were considered")
    if keeper.best is not None and keeper.best["step"] == 0 and opts.init:
        notes.append(f"no fine-tuned snapshot measured better than the starting model; {model} is {opts.init}")
    if model is not None:
        notes += carry_directions(opts.init, model, mapping_frozen=freeze_g > 0)
    summary = {"folder": str(opts.folder), "run": str(run), "model": str(model) if model else None,
               "stopped": stopped, "minutes": (time.monotonic() - t0) / 60, "kimg": trainer.images_seen / 1000,
               "train_faces": split.n_train, "heldout_faces": split.n_heldout, "best": keeper.best,
               "copying_from": keeper.copying, "evaluations": keeper.rows, "notes": notes,
               "options": dataclasses.asdict(opts), "train_options": trainer.opts.to_dict()}
    write_bytes(run / "finetune.json", (json.dumps(summary, indent=1) + "\n").encode(), overwrite=True)
    tell(f"stopped: {stopped} after {summary['kimg']:.1f} kimg, {summary['minutes']:.1f} min")
    for note in notes:
        tell(note)
    if keeper.best is not None:
        tell(f"model: {model} ({keeper.best['kimg']:.1f} kimg, KID x1000 {1000 * keeper.best['kid']:.2f}); "
             f"try it: facegen generate --model {model} -n 16 --grid --out faces/")
    else:
        tell("no snapshot was free of near-copies, so no model was written; the last one is "
             f"{run / 'training' / 'model.safetensors'}")
    return summary
