"""facegen generator -> one self-contained ONNX file, checked against PyTorch with ONNX Runtime.

The exported graph has two inputs and one output:
  z           float32 [batch, latent_dim]   the latent, drawn as the model's config says
                                            (standard normal, or uniform in [0, 1) for
                                            latent_distribution "uniform01")
  truncation  float32 scalar                1.0 for full variety, 0.5-0.8 for safer faces;
                                            an input rather than baked in, so one file
                                            serves every setting
  image       float32 [batch, 3, H, W]      NCHW in [-1, 1]
Noise inputs of style models are the model's fixed noise (noise_mode "const"), so a
latent gives the same face as `facegen generate`. The facegen config rides along in the
file's metadata (key "facegen_config").
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import need

OPSET = 17


class _Exportable(nn.Module):
    """z, truncation -> image, with truncation as a tensor so the graph keeps it as an input."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        m = self.model
        w = m.mapping(z, 1.0)
        w = m.w_avg + truncation * (w - m.w_avg)
        return m.synthesis(w, "const")


class _Synthesis(nn.Module):
    """w -> image: the part the `--backend onnx` pipeline runs (mapping stays in PyTorch)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.model.synthesis(w, "const")


def _to_onnx_bytes(module: nn.Module, args: tuple, input_names: list[str], dynamic: dict) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # The TorchScript exporter is deprecated but still in the pinned torch; it runs in
        # under a second for a DCGAN and needs no onnxscript, which the torch.export-based
        # one does. Its tracer warnings are about Python-side shape arithmetic; verify()
        # runs the graph at another batch size than the one traced.
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, buf, dynamo=False, opset_version=OPSET,
                          input_names=input_names, output_names=["image"],
                          dynamic_axes=dict(dynamic, image={0: "batch"}), do_constant_folding=True)
    return buf.getvalue()


def _with_metadata(data: bytes, config, extra: dict | None = None) -> bytes:
    onnx = need("onnx", "onnx")
    proto = onnx.load_from_string(data)
    meta = {"facegen_config": json.dumps(config.to_dict()), "latent_distribution": config.latent_distribution,
            "inputs": "z [batch, latent_dim], truncation scalar", "output": "image NCHW in [-1, 1]", **(extra or {})}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "facegen"
    return proto.SerializeToString()


def _fold_constants(data: bytes) -> bytes:
    """Fold what the exporter left unfolded (the style model's weight norms), with only
    standard ONNX rewrites: the style model's file shrinks from 23 to 15 MB."""
    import os
    import tempfile

    ort, onnx = need("onnxruntime", "onnx"), need("onnx", "onnx")
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(tmp, "folded.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        proto = onnx.load(options.optimized_model_filepath)
    # ONNX Runtime declares its own operator domains; keep only those the graph uses.
    used = {node.domain for node in proto.graph.node}
    keep = [o for o in proto.opset_import if o.domain in used or o.domain in ("", "ai.onnx")]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export_bytes(model, extra_metadata: dict | None = None) -> bytes:
    """The ONNX file for `model` (z, truncation -> image), as bytes."""
    model = model.eval().float()
    z = torch.zeros(2, model.config.latent_dim)
    data = _to_onnx_bytes(_Exportable(model), (z, torch.tensor(1.0)), ["z", "truncation"], {"z": {0: "batch"}})
    return _with_metadata(_fold_constants(data), model.config, extra_metadata)


def synthesis_bytes(model) -> bytes:
    """An ONNX graph of `model`'s synthesis alone: w ([B, w_dim], or [B, num_ws, w_dim] for style)."""
    model = model.eval().float()
    c = model.config
    w = torch.zeros(2, model.num_ws, c.w_dim) if c.architecture == "style" else torch.zeros(2, c.latent_dim)
    return _to_onnx_bytes(_Synthesis(model), (w,), ["w"], {"w": {0: "batch"}})


def session(data: bytes | str | Path, threads: int | None = None):
    """An ONNX Runtime session on the CPU, using as many threads as PyTorch does."""
    ort = need("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = data if isinstance(data, bytes) else str(data)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def verify(model, data: bytes, batch: int = 3, truncations=(1.0, 0.7), seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| over a batch of latents and each truncation."""
    sess = session(data)
    z = model.sample_z(list(range(seed, seed + batch)))
    worst = 0.0
    for psi in truncations:
        got = sess.run(["image"], {"z": z.numpy(), "truncation": np.array(psi, dtype=np.float32)})[0]
        with torch.inference_mode():
            want = model(z, truncation=psi, noise_mode="const").numpy()
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def export_onnx(model, path: str | Path, overwrite: bool = False, check: bool = True) -> dict:
    """Write `model` as ONNX to `path` atomically; returns a report with the check against PyTorch."""
    from ..atomic import write_bytes

    data = export_bytes(model)
    report = {"path": str(path), "bytes": len(data), "opset": OPSET,
              "inputs": {"z": ["batch", model.config.latent_dim], "truncation": []},
              "output": {"image": ["batch", 3, model.config.resolution, model.config.resolution]}}
    if check:
        report["max_abs_diff"] = verify(model, data)
    write_bytes(Path(path), data, overwrite=overwrite)
    return report


class OnnxSynthesis:
    """`model.synthesis` run by ONNX Runtime: the pipeline's `--backend onnx`.

    The graph is exported in memory when the pipeline is built (well under a second for a
    DCGAN-64, a few seconds for the style model), so it pays off from a few dozen faces on.
    """

    def __init__(self, model):
        self.config = model.config
        self.num_ws = model.num_ws
        self.session = session(synthesis_bytes(model))

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        w = w.float()
        if self.config.architecture == "style" and w.dim() == 2:
            w = w[:, None].expand(-1, self.num_ws, -1)
        out = self.session.run(["image"], {"w": np.ascontiguousarray(w.numpy())})[0]
        return torch.from_numpy(out)
