"""The training loop: one `Trainer` holds G, D, the EMA generator and their optimisers.

A step, for both architectures (the fakes are made once and used by both halves,
as the DCGAN recipe does, which saves a generator pass per step):
  1. D step: real (x-flipped) and fake images, both through DiffAugment; D loss,
     plus R1 on the reals every `r1_every` steps (style), scaled by r1_every so the
     lazy penalty has the strength of a per-step one; the penalty shares the step's
     D pass instead of taking its own.
  2. G step on the same fakes through the updated D (D frozen, so no D weight grads).
  3. EMA of G's weights.
During a D warm-up (--d-warmup-kimg) a step is its first half alone.
Everything random in step k comes from streams seeded by (seed, k, rank): see data.py.
"""
from __future__ import annotations

import contextlib
import copy
import math
import signal
import time
from pathlib import Path

import torch
from torch.profiler import record_function as phase

from ..imaging import make_grid, to_pil
from ..models import build_generator
from ..models.discriminator import build_discriminator
from . import checkpoint as ckpt
from . import distributed as dd
from . import losses, report
from .augment import diff_augment
from .data import BatchSampler, TrainingError, open_dataset, stream
from .export import export_generator
from .lock import hold_run_folder
from .options import TrainOptions, identity_mismatch, take_shape
from .start import load_start, saved_config


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())


def fastest_precision(G, D, batch: int, latent_dim: int, device: torch.device) -> str:
    """Time a forward+backward of G and D in fp32 and in bf16 on copies of the networks.

    A CPU that reports bf16 support is not always faster with it: on one 2-core
    Zen4 VM (torch 2.4) bf16 convolutions ran at about half the fp32 speed, on
    another (torch 2.13) a style-128 step ran 1.85x faster in bf16, and AMX machines
    gain more. Measuring is the only reliable way to choose, and it takes a few
    seconds once per run.
    """
    if device.type == "cuda":
        return "bf16" if bf16_supported(device) else "fp32"
    if not bf16_supported(device):
        return "fp32"
    G, D = copy.deepcopy(G), copy.deepcopy(D)  # BatchNorm statistics must not move
    z = torch.randn(min(batch, 32), latent_dim, device=device)
    best = {}
    for _ in range(3):
        for precision in ("fp32", "bf16"):
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = D(G(z)).float().sum()
            loss.backward()
            best[precision] = min(best.get(precision, math.inf), time.perf_counter() - t0)
    return min(best, key=best.get)


class Trainer:
    def __init__(self, opts: TrainOptions, dist: dd.Dist | None = None):
        self.dist = dist or dd.Dist()
        self.run_dir = Path(opts.out)
        self.start, self.images_before = None, 0
        if opts.init:
            opts = self._take_init_shape(opts)
        self.dataset, images = open_dataset(opts.dataset, opts.resolution, fine_tune=bool(opts.init))
        self.opts = o = opts.resolve(self.dataset.size)
        if o.batch % self.dist.world:
            raise TrainingError(f"--batch {o.batch} does not split evenly over {self.dist.world} processes")
        dev = self.device = self.dist.device
        self.precision = o.precision
        self.config = TrainOptions.generator_config(o)
        self.config.name = o.name or self.run_dir.resolve().name
        self.config.description = o.description
        self.config.license = o.license
        self.config.training_data = f"{self.dataset.path.name}: {len(self.dataset)} faces at {self.dataset.size}x{self.dataset.size}"

        torch.manual_seed(o.seed)
        self.G = build_generator(self.config).train()
        self.D = self._build_d(o).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        if self.start is not None:
            self._load_start()
        if o.freeze_g:
            # Fixed layers take no gradient, so backward stops at the first block that learns.
            self.G.mapping_network.requires_grad_(False)
            self.G.blocks[:o.freeze_g].requires_grad_(False)
        for m in (self.G, self.D, self.G_ema):
            m.to(dev, memory_format=torch.channels_last)
        betas = (0.5, 0.999) if o.arch == "dcgan" else (0.0, 0.99)
        # One fused kernel over all parameters instead of a dozen passes per tensor.
        adam = dict(lr=o.lr, betas=betas, eps=1e-8, fused=dev.type in ("cpu", "cuda"))
        self.opt_G = torch.optim.Adam([p for p in self.G.parameters() if p.requires_grad], **adam)
        self.opt_D = torch.optim.Adam([p for p in self.D.parameters() if p.requires_grad], **adam)
        self.sampler = BatchSampler(images, o.seed, o.batch, self.dist.rank, self.dist.world)
        self.step = 0
        self.augment_p = o.augment_p
        self.total_steps = math.ceil(o.kimg * 1000 / o.batch)
        self._stop = False
        # For a caller that steers the run (facegen finetune): `on_snapshot(trainer)` runs after each
        # periodic checkpoint, and the run ends as if --kimg were reached once `finish(reason)` is
        # called or time.monotonic() passes `deadline`.
        self.on_snapshot = None
        self.deadline: float | None = None
        self.finished_early: str | None = None

    def _build_d(self, o: TrainOptions) -> torch.nn.Module:
        if o.discriminator == "features":
            from ..attributes.classifier import INPUT_SIZE, load_classifier
            from ..models.discriminator import FeatureDiscriminator

            return FeatureDiscriminator(load_classifier().net.features, INPUT_SIZE)
        return build_discriminator(self.config, o.d_channels)

    # ---- fine-tuning (--init) -----------------------------------------------------------------
    def _take_init_shape(self, opts: TrainOptions) -> TrainOptions:
        """The model shape from the starting point; from this run's own checkpoint once it has one,
        so a resume needs neither the source nor its reading."""
        saved = saved_config(self.run_dir)
        if saved is not None:
            return take_shape(opts, saved, str(self.run_dir))
        self.start = load_start(opts.init)
        return take_shape(opts, self.start.config.to_dict(), self.start.source)

    def _load_start(self) -> None:
        s = self.start
        grown = len(self.config.channels) - len(s.config.channels)
        with_d = s.has_discriminator and not grown and self._fits_d(s)
        for name in ("G", "D", "G_ema") if with_d else ("G", "G_ema"):
            prefix = name + "."
            net = getattr(self, name)
            missing, unexpected = net.load_state_dict({k[len(prefix):]: v for k, v in s.tensors.items()
                                                       if k.startswith(prefix)}, strict=not grown)
            if grown:
                new_blocks = tuple(f"blocks.{i}." for i in range(len(s.config.channels), len(self.config.channels)))
                stray = [k for k in missing if not k.startswith(new_blocks)] + list(unexpected)
                if stray:
                    raise TrainingError(f"--init {s.source}: cannot grow it, these weights do not fit: "
                                        f"{', '.join(stray[:5])}")
                with torch.no_grad():
                    # A silent toRGB makes the grown model's first output its source's, upsampled:
                    # the new blocks learn detail on top of a face instead of from noise.
                    for block in net.blocks[len(s.config.channels):]:
                        block.to_rgb.weight.zero_()
        self.images_before = s.images_seen
        if self.dist.is_main:
            how = ("" if with_d else
                   f"; grown from {s.config.resolution} to {self.config.resolution} px, so D starts afresh" if grown
                   else "; a model file holds no discriminator, so D starts afresh" if not s.has_discriminator
                   else "; its discriminator has other widths (--d-channels), so D starts afresh")
            print(f"starting from {s.source} ({s.images_seen / 1000:.1f} kimg){how}")
        self.start = None  # the weights are in the networks now

    def _fits_d(self, s) -> bool:
        """Whether the starting point's discriminator has this run's D shapes."""
        ours = self.D.state_dict()
        theirs = {k[2:]: v for k, v in s.tensors.items() if k.startswith("D.")}
        return ours.keys() == theirs.keys() and all(ours[k].shape == theirs[k].shape for k in ours)

    # ---- state -------------------------------------------------------------------------------
    @property
    def images_seen(self) -> int:
        return self.step * self.opts.batch

    @property
    def images_trained(self) -> int:
        """What the generator has seen, a fine-tune's starting point included."""
        return self.images_before + self.images_seen

    def state(self) -> tuple[dict, dict]:
        tensors: dict = {}
        for name in ("G", "D", "G_ema"):
            tensors.update({f"{name}.{k}": v for k, v in getattr(self, name).state_dict().items()})
        meta = {
            "images_seen": self.images_seen, "images_before": self.images_before, "augment_p": self.augment_p,
            "world": self.dist.world,
            "precision": self.precision, "options": self.opts.to_dict(), "config": self.config.to_dict(),
            "opt_G": ckpt.flatten_optimizer("opt_G", self.opt_G, tensors),
            "opt_D": ckpt.flatten_optimizer("opt_D", self.opt_D, tensors),
            "rng": ckpt.rng_state(tensors),
        }
        return tensors, meta

    def load_state(self, tensors: dict, meta: dict) -> None:
        for name in ("G", "D", "G_ema"):
            prefix = name + "."
            getattr(self, name).load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        ckpt.restore_optimizer("opt_G", self.opt_G, tensors, meta["opt_G"])
        ckpt.restore_optimizer("opt_D", self.opt_D, tensors, meta["opt_D"])
        ckpt.restore_rng(tensors, meta["rng"])
        self.step = int(meta["step"])
        self.images_before = int(meta.get("images_before", 0))
        self.augment_p = float(meta["augment_p"])

    def save(self) -> Path | None:
        """Checkpoint on rank 0; BatchNorm statistics are rank 0's on every process afterwards."""
        for m in (self.G, self.D, self.G_ema):
            dd.broadcast_module(self.dist, m, buffers_only=True)
        path = None
        if self.dist.is_main:
            tensors, meta = self.state()
            path = ckpt.save_checkpoint(self.run_dir, self.step, tensors, meta, self.opts.keep)
        dd.barrier(self.dist)
        return path

    def resume_if_possible(self) -> bool:
        if self.dist.is_main:
            ckpt.remove_stale_temps(self.run_dir)
        found = ckpt.latest_checkpoint(self.run_dir)
        if found is None:
            if self.opts.resume:
                raise TrainingError(f"{self.run_dir}: --resume given but there is no checkpoint to resume from")
            return False
        path, tensors, meta = found
        if "opt_G" not in meta:
            raise TrainingError(f"{path}: holds weights alone (no optimiser state), so no run continues from it; "
                                f"start a new run from it with --init {path}")
        diff = identity_mismatch(meta["options"], self.opts)
        if diff:
            raise TrainingError(f"{path}: this run was started with other options ({'; '.join(diff)}); "
                                f"use the same options to continue it, or a new --out to start afresh")
        self.load_state(tensors, meta)
        if self.opts.precision == "auto":
            self.precision = meta["precision"]  # what the run chose at its start, so a resume repeats it
        if self.dist.is_main:
            report.truncate_log(self.run_dir, self.step)
            print(f"resuming from {path} ({self.images_seen / 1000:.1f} kimg)")
        return True

    # ---- one step ----------------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _latents(self, g: torch.Generator) -> torch.Tensor:
        n, dim = self.sampler.local_batch, self.config.latent_dim
        if self.config.latent_distribution == "uniform01":
            return torch.rand(n, dim, generator=g, device=self.device)
        return torch.randn(n, dim, generator=g, device=self.device)

    def _generate(self, g: torch.Generator) -> torch.Tensor:
        z = self._latents(g)
        if self.config.architecture == "dcgan":
            return self.G(z)
        w = self.G.mapping(z)
        ws = w[:, None].expand(-1, self.G.num_ws, -1)
        if self.opts.style_mixing > 0:
            # Feed a second latent's style from a random layer on, so layers cannot rely on sharing one w.
            w2 = self.G.mapping(self._latents(g))
            n = z.shape[0]
            cutoff = torch.randint(1, self.G.num_ws, (n, 1), generator=g, device=self.device)
            cutoff = torch.where(torch.rand(n, 1, generator=g, device=self.device) < self.opts.style_mixing,
                                 cutoff, self.G.num_ws)
            later = torch.arange(self.G.num_ws, device=self.device)[None] >= cutoff
            ws = torch.where(later[:, :, None], w2[:, None], ws)
        return self.G.synthesis(ws, noise_mode="random", generator=g)

    def train_step(self) -> dict:
        # Each phase is named for torch.profiler (bench/profile_train.py); unprofiled, a name costs ~1 us.
        o, s, rank, dev = self.opts, self.step, self.dist.rank, self.device
        rng = {k: stream(o.seed, s, rank, k, dev) for k in ("data", "latent", "aug_d", "aug_g")}
        with phase("data"):
            real = self.sampler.batch(s, dev, flip=rng["data"] if o.mirror else None)
        r1_step = o.arch == "style" and o.r1_gamma > 0 and s % o.r1_every == 0

        # Warm-up: D alone learns, so G's forward needs no graph and G takes no step.
        warming_up = self.images_seen < o.d_warmup_kimg * 1000
        with phase("G forward"), self.autocast(), torch.set_grad_enabled(not warming_up):
            fake = self._generate(rng["latent"])
        self.D.requires_grad_(True)
        if r1_step:
            real.requires_grad_(True)
        with self.autocast():
            with phase("augment"):
                both = diff_augment(torch.cat([real, fake.detach()]), self.augment_p, rng["aug_d"])
            # Reals and fakes go through D separately: minibatch-std and BatchNorm must not mix them.
            with phase("D forward"):
                real_logits, fake_logits = self.D(both[:len(real)]), self.D(both[len(real):])
        loss_d = losses.d_loss(o.arch, real_logits, fake_logits)
        stats = {"loss_D": loss_d.detach()}
        if r1_step:
            with phase("R1 gradient"):
                r1 = losses.r1_penalty(real_logits, real)
            loss_d = loss_d + r1 * (o.r1_gamma / 2 * o.r1_every)
            stats["r1"] = r1.detach()
        self.opt_D.zero_grad(set_to_none=True)
        with phase("D backward"):  # on an R1 step, also the double backward of R1's gradient
            loss_d.backward()
            dd.average_gradients(self.dist, list(self.D.parameters()))
        with phase("D optimiser"):
            self.opt_D.step()

        if warming_up:
            self.step += 1
            return stats
        self.D.requires_grad_(False)
        with self.autocast():
            with phase("augment"):
                seen = diff_augment(fake, self.augment_p, rng["aug_g"])
            with phase("D forward (G step)"):
                fake_logits = self.D(seen)
        loss_g = losses.g_loss(o.arch, fake_logits)
        stats["loss_G"] = loss_g.detach()
        self.opt_G.zero_grad(set_to_none=True)
        with phase("G backward"):  # through D into G
            loss_g.backward()
            dd.average_gradients(self.dist, list(self.G.parameters()))
        with phase("G optimiser"):
            self.opt_G.step()
        with phase("EMA"):
            self.update_ema()
        self.step += 1
        return stats

    @torch.no_grad()
    def update_ema(self) -> None:
        o = self.opts
        # The ramp-up counts the images the starting model saw, so a fine-tune keeps its full EMA.
        ema_nimg = min(o.ema_kimg * 1000, self.images_trained * o.ema_rampup) if o.ema_rampup else o.ema_kimg * 1000
        beta = 0.5 ** (o.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.lerp_(p, 1 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # ---- outputs -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self) -> Path:
        z = self.G_ema.sample_z(list(range(self.opts.grid))).to(self.device)
        with self.autocast():
            images = self.G_ema(z, noise_mode="const")
        path = self.run_dir / "samples" / f"kimg{self.images_seen / 1000:010.3f}.png"
        path.parent.mkdir(exist_ok=True)
        report.save_image_atomic(make_grid(to_pil(images.float().cpu())), path)
        return path

    def export(self) -> Path:
        config = copy.deepcopy(self.config)
        config.images_seen = self.images_trained
        return export_generator(self.G_ema, config, self.run_dir / "model.safetensors")

    # ---- the loop ----------------------------------------------------------------------------
    def finish(self, reason: str) -> None:
        """End the run after this step, saving and exporting as when --kimg is reached."""
        self.finished_early = self.finished_early or reason

    def _on_sigint(self, signum, frame):
        if self._stop:
            raise KeyboardInterrupt
        self._stop = True
        if self.dist.is_main:
            print("\nstopping after this step to save a checkpoint (Ctrl-C again to abandon it)", flush=True)

    def run(self) -> dict:
        with hold_run_folder(self.run_dir, self.dist.is_main):  # a second trainer on this folder is refused
            return self._run()

    def _run(self) -> dict:
        o, main = self.opts, self.dist.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tensors, _ = self.state()
            ckpt.check_disk_space(self.run_dir, 2 * sum(t.numel() * t.element_size() for t in tensors.values()))
        dd.barrier(self.dist)
        if not self.resume_if_possible() and self.precision == "auto":
            self.precision = fastest_precision(self.G, self.D, o.batch // self.dist.world, o.latent_dim, self.device)
            # Every process must compute the same way, or their weights drift apart.
            self.precision = ["fp32", "bf16"][int(dd.any_process(self.dist, self.precision == "bf16"))]
            if main:
                print(f"precision: {self.precision} (measured faster here; --precision to choose)")
        if self.step == 0:
            dd.broadcast_module(self.dist, self.G)
            dd.broadcast_module(self.dist, self.D)
            dd.broadcast_module(self.dist, self.G_ema)
        steps_per = {k: max(1, round(v * 1000 / o.batch)) for k, v in
                     (("snapshot", o.snapshot_kimg), ("sample", o.sample_kimg))}
        tb = report.TensorBoard(self.run_dir, o.tensorboard and main)
        if main and o.tensorboard and getattr(tb, "note", None):
            print(tb.note)
        bar = None
        if main and o.progress:
            from tqdm import tqdm
            bar = tqdm(total=self.total_steps * o.batch, initial=self.images_seen, unit="img", unit_scale=True,
                       dynamic_ncols=True, smoothing=0.05)
        old_handler = None
        with contextlib.suppress(ValueError):  # signal handlers can only be set from the main thread
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        sums: dict = {}
        interrupted = False
        t0, n0 = time.perf_counter(), self.step
        try:
            while self.step < self.total_steps:
                stats = self.train_step()
                for k, v in stats.items():
                    sums.setdefault(k, []).append(v)
                if self.step % o.log_steps == 0 or self.step == self.total_steps:
                    row = self._log_row(sums, t0, n0)
                    t0, n0, sums = time.perf_counter(), self.step, {}
                    if main:
                        report.append_log(self.run_dir, row)
                        tb.scalars(row)
                        if bar is not None:
                            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("loss_G", "loss_D") if k in row})
                if bar is not None:
                    bar.update(o.batch)
                if dd.any_process(self.dist, self._stop):
                    interrupted = True
                    break
                if self.step % steps_per["sample"] == 0 and main:
                    self.sample_grid()
                    report.save_image_atomic(report.plot_losses(report.read_log(self.run_dir)),
                                             self.run_dir / report.CURVE)
                if self.step % steps_per["snapshot"] == 0 and self.step < self.total_steps:
                    self.save()
                    if self.on_snapshot is not None:
                        self.on_snapshot(self)
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    self.finish("time budget spent")
                steered = self.on_snapshot is not None or self.deadline is not None
                if steered and dd.any_process(self.dist, self.finished_early is not None):
                    break
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            if bar is not None:
                bar.close()
            tb.close()
        path = self.save()
        result = {"step": self.step, "images_seen": self.images_seen, "checkpoint": path, "interrupted": interrupted,
                  "finished_early": self.finished_early}
        if main:
            self.sample_grid()
            report.save_image_atomic(report.plot_losses(report.read_log(self.run_dir)), self.run_dir / report.CURVE)
            if not interrupted:
                result["model"] = self.export()
        dd.barrier(self.dist)
        return result

    def _log_row(self, sums: dict, t0: float, n0: int) -> dict:
        keys = sorted(sums)
        values = torch.stack([torch.stack(sums[k]).float().mean() for k in keys]) if keys else torch.zeros(0)
        values = dd.average_scalars(self.dist, values)
        dt = time.perf_counter() - t0
        row = {"step": self.step, "kimg": self.images_seen / 1000,
               "img_per_s": (self.step - n0) * self.opts.batch / dt if dt > 0 else 0.0}
        row.update({k: float(v) for k, v in zip(keys, values.tolist())})
        return row


def train(opts: TrainOptions) -> dict:
    """Train (or continue training) as `opts` says; returns where the checkpoint and model went."""
    dist = dd.setup(opts.device)
    try:
        return Trainer(opts, dist).run()
    finally:
        dd.teardown(dist)
