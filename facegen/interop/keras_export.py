"""dcgan generator -> Keras model in legacy HDF5 (.h5), for the classic script:

    model = tf.keras.models.load_model('face_generator_model.h5')
    generated_face = model.predict(np.random.rand(1, 100))     # NHWC in [-1, 1]

Built-in layers only (InputLayer, Dense, Reshape, BatchNormalization, ReLU,
Conv2DTranspose, Activation), so loading needs no custom objects and runs no code.
The script feeds uniform noise in [0, 1):
- a "uniform01" model takes it as it is;
- a "normal" model gets the uniform noise mapped to a standard normal inside the
  model, by a per-element inverse normal CDF made of built-in layers: Reshape to
  [latent, 1], Dense(16, tanh), Dense(1), Reshape back. Its 16 units were fitted once
  (least squares on 4,001 points in float64, with a small penalty on the output weights
  so that float32 rounding stays near 4e-6): RMS error 0.003 against the exact inverse
  CDF over U[0, 1), at most 0.012 between the 0.5% and 99.5% points, the 0.1% tails
  clipped near +-3.1; the mapped latents have std 0.997 and kurtosis 2.93 (normal: 1
  and 3). A plain affine map (u - 0.5) * sqrt(12) would match mean and variance only,
  with no tails at all.
Truncation (pull toward the average latent) is baked into the first Dense layer's
kernel and bias, since the classic script has nowhere to pass it.
Transposed convolutions: PyTorch's k4 s2 p1 crops one pixel from each side of the
full output, exactly as Keras' padding="same" does for k4 s2, so kernels carry over
as a transpose (in, out, kh, kw) -> (kh, kw, out, in), with no flip.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from . import InteropError, need

# Fitted once (see the module docstring): u -> tanh(u * A + B) @ C + D approximates ndtri(u).
_ICDF_A = [379.552787, 149.346535, -4.641431, 19.439241, 41.008484, 3.917023, 50.263494, 8.768565,
           4.010352, -74.318476, -60.475801, -49.670422, 16.311396, 10.049409, 107.646393, 251.931501]
_ICDF_B = [-0.766807, -1.381279, 147.731406, 25.904933, -0.95301, -1.039096, 113.028934, -0.339697,
           -2.750967, -134.147079, -74.361773, -65.749851, -16.068147, -8.668063, -106.197852, -251.502029]
_ICDF_C = [0.313757, 0.171532, 0.015705, 0.010309, 0.220428, 0.604479, 0.008823, 0.601813,
           0.55614, -0.015403, -0.010927, -0.010846, 0.656741, 0.2258, 0.153028, 0.44142]
_ICDF_D = 0.009837


def keras_module():
    """Import Keras, choosing the torch backend unless the user chose one: TensorFlow is optional."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    return need("keras", "keras")


def uniform_to_normal(u: torch.Tensor) -> torch.Tensor:
    """The in-model map from U[0, 1) to ~N(0, 1), computed the way the Keras layers do."""
    a, b, c = (torch.tensor(v, dtype=torch.float32) for v in (_ICDF_A, _ICDF_B, _ICDF_C))
    return torch.tanh(u.float()[..., None] * a + b) @ c + _ICDF_D


def latent_from_uniform(model, u: torch.Tensor) -> torch.Tensor:
    """The z a facegen model sees when the exported .h5 is fed `u`."""
    return uniform_to_normal(u) if model.config.latent_distribution == "normal" else u.float()


@torch.inference_mode()
def reference(model, u, truncation: float = 1.0) -> np.ndarray:
    """facegen's own output for uniform input `u`, NHWC in [-1, 1]: what the .h5 must match."""
    z = latent_from_uniform(model, torch.as_tensor(np.asarray(u), dtype=torch.float32))
    return model(z, truncation=truncation, noise_mode="const").permute(0, 2, 3, 1).numpy()


def _check(model) -> None:
    c = model.config
    if c.architecture != "dcgan":
        raise InteropError(getattr(model, "source", None) or c.name,
                           f"is a {c.architecture} model; Keras .h5 export is for dcgan models "
                           "(use --format onnx for style models)")


def build_keras(model, truncation: float = 1.0):
    """A keras.Sequential computing `model` from uniform noise, weights copied in."""
    _check(model)
    keras = keras_module()
    L = keras.layers
    c = model.config
    convs = [m for m in model.net if isinstance(m, torch.nn.ConvTranspose2d)]
    norms = [m for m in model.net if isinstance(m, torch.nn.BatchNorm2d)]
    stack = [keras.Input((c.latent_dim,), name="noise")]
    weights: list[list[np.ndarray] | None] = []
    if c.latent_distribution == "normal":
        stack += [L.Reshape((c.latent_dim, 1), name="uniform_per_element"),
                  L.Dense(len(_ICDF_A), activation="tanh", name="uniform_to_normal_hidden"),
                  L.Dense(1, name="uniform_to_normal"),
                  L.Reshape((c.latent_dim,), name="latent")]
        weights += [None, [np.array([_ICDF_A], np.float32), np.array(_ICDF_B, np.float32)],
                    [np.array(_ICDF_C, np.float32)[:, None], np.array([_ICDF_D], np.float32)], None]
    # The first transposed conv on a 1x1 input is a dense layer to 4x4xC (NHWC order).
    w0 = convs[0].weight.detach().double()  # [latent, C, 4, 4]
    kernel = w0.permute(0, 2, 3, 1).reshape(c.latent_dim, -1)
    avg = model.w_avg.double()
    # The net sees scale * z + shift (uniform latents are standardised) with z truncated toward
    # avg; all of it is affine, so it folds into this one Dense layer.
    scale, shift = model.latent_affine()
    dense = [(scale * truncation * kernel).float().numpy()]
    bias = (scale * (1.0 - truncation) * avg + shift) @ kernel
    use_bias = bool(bias.abs().max() > 0)
    if use_bias:
        dense.append(bias.float().numpy())
    stack += [L.Dense(kernel.shape[1], use_bias=use_bias, name="project"),
              L.Reshape((4, 4, w0.shape[1]), name="to_4x4")]
    weights += [dense, None]
    for i, conv in enumerate(convs):
        if i > 0:
            stack.append(L.Conv2DTranspose(conv.out_channels, 4, strides=2, padding="same", use_bias=False,
                                           name=f"up{i}"))
            weights.append([conv.weight.detach().permute(2, 3, 1, 0).numpy()])
        if i < len(norms):
            bn = norms[i]
            stack += [L.BatchNormalization(epsilon=bn.eps, momentum=1.0 - bn.momentum, name=f"norm{i}"),
                      L.ReLU(name=f"relu{i}")]
            weights += [[t.detach().numpy() for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)], None]
    stack.append(L.Activation("tanh", name="image"))
    weights.append(None)
    kmodel = keras.Sequential(stack, name=(c.name or "facegen")[:60].replace(" ", "_"))
    for layer, w in zip(kmodel.layers, weights):
        if w is not None:
            layer.set_weights(w)
    return kmodel


def export_keras_h5(model, path: str | Path, truncation: float = 1.0, overwrite: bool = False,
                    check: bool = True) -> dict:
    """Write `model` as a legacy-HDF5 Keras model atomically; returns a report of the check."""
    from ..atomic import write_bytes

    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise InteropError(path, "a Keras HDF5 file must end in .h5 (Keras picks the format from the name)")
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} already exists (pass overwrite to replace it)")
    kmodel = build_keras(model, truncation)
    report = {"path": str(path), "latent_distribution": model.config.latent_distribution,
              "input": ["batch", model.config.latent_dim], "input_noise": "uniform [0, 1)",
              "output": ["batch", model.config.resolution, model.config.resolution, 3],
              "truncation": truncation, "layers": [type(layer).__name__ for layer in kmodel.layers]}
    if check:
        u = np.random.default_rng(0).random((3, model.config.latent_dim)).astype(np.float32)
        got = np.asarray(kmodel.predict(u, verbose=0))
        report["max_abs_diff"] = float(np.abs(got - reference(model, u, truncation)).max())
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        absl = logging.getLogger("absl")
        level = absl.level
        absl.setLevel(logging.ERROR)  # Keras warns that .h5 is legacy; legacy is what the script needs
        try:
            kmodel.save(os.path.join(tmp, "model.h5"))
        finally:
            absl.setLevel(level)
        data = Path(tmp, "model.h5").read_bytes()
    write_bytes(path, data, overwrite=overwrite)
    report["bytes"] = len(data)
    return report
