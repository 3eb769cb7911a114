"""A Keras DCGAN-style generator saved as .h5 -> facegen dcgan, read with h5py alone.

Keras is never imported: the model's JSON config is parsed as data and only an
allow-list of built-in layers is accepted, so a Lambda layer (which holds code) or a
custom layer is refused rather than run. Accepted shape, in order:
    [Reshape(L, 1), Dense(k, tanh), Dense(1), Reshape(L)]   facegen's own uniform->normal map
    Dense(16*C) + Reshape(4, 4, C)  or  Reshape(1, 1, L) + Conv2DTranspose(C, 4, valid)
    (BatchNormalization, ReLU, Conv2DTranspose(C', 4, strides 2, 'same'))...
    tanh (an Activation layer, or the last Conv2DTranspose's activation)
Biases in front of a BatchNormalization fold into its moving mean.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import InteropError, build_dcgan, need

ALLOWED = {"InputLayer", "Dense", "Reshape", "BatchNormalization", "ReLU", "Activation", "Conv2DTranspose"}
MAX_TENSOR = 512 * 1024**2 // 4


def _walk_links(path, group) -> None:
    """Refuse external and soft links: an .h5 could otherwise make h5py read another file."""
    h5py = need("h5py", "keras")
    for key in group:
        link = group.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise InteropError(path, f"contains a {type(link).__name__} at {group.name}/{key}; facegen reads "
                                     "only self-contained files")
        item = group[key]
        if isinstance(item, h5py.Group):
            _walk_links(path, item)
        elif item.is_virtual or item.external:
            raise InteropError(path, f"dataset {item.name} reads from other files; facegen refuses it")


def _layers(path, config: dict) -> list[dict]:
    kind = config.get("class_name")
    layers = config.get("config", {}).get("layers") if isinstance(config.get("config"), dict) else None
    if kind not in ("Sequential", "Functional", "Model") or not isinstance(layers, list):
        raise InteropError(path, f"holds a Keras {kind!r} model; facegen imports a Sequential (or linear) generator")
    names = {layer.get("config", {}).get("name") for layer in layers}
    for before, layer in zip(layers, layers[1:]):
        if kind != "Sequential":
            found = set()
            _strings(layer.get("inbound_nodes", []), names, found)
            if found != {before["config"]["name"]}:
                raise InteropError(path, f"layer {layer['config']['name']!r} does not simply follow "
                                         f"{before['config']['name']!r}; facegen imports a straight chain of layers")
    for layer in layers:
        cls = layer.get("class_name")
        if cls not in ALLOWED or layer.get("module", "keras.layers").split(".")[0] not in ("keras", "tensorflow"):
            what = "holds Python code" if cls == "Lambda" else "is not one of the built-in layers facegen reads"
            raise InteropError(path, f"layer {layer.get('config', {}).get('name')!r} is a {cls} layer, which {what}; "
                                     f"refused (allowed: {', '.join(sorted(ALLOWED))})")
    return [layer for layer in layers if layer["class_name"] != "InputLayer"]


def _strings(node, names: set, found: set) -> None:
    if isinstance(node, str) and node in names:
        found.add(node)
    elif isinstance(node, list):
        for x in node:
            _strings(x, names, found)
    elif isinstance(node, dict):
        for x in node.values():
            _strings(x, names, found)


def _weights(path, root, name: str) -> dict[str, np.ndarray]:
    if name not in root:
        return {}
    group = root[name]
    out = {}
    for wname in group.attrs.get("weight_names", []):
        wname = wname.decode() if isinstance(wname, bytes) else str(wname)
        ds = group[wname]
        if ds.dtype.kind != "f" or ds.size > MAX_TENSOR:
            raise InteropError(path, f"weight {wname} is {ds.dtype} {ds.shape}; expected a float tensor")
        out[wname.split("/")[-1].split(":")[0]] = np.asarray(ds[()], dtype=np.float64)
    return out


def _ops(path, layers: list[dict], root) -> list[tuple]:
    """Layers as a flat list of simple ops, each layer's inline activation split out."""
    ops = []
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        w = _weights(path, root, cfg["name"])
        name = cfg["name"]
        if cls == "Dense":
            if w["kernel"].ndim != 2:
                raise InteropError(path, f"layer {name!r} has a kernel of shape {w['kernel'].shape}, not 2-D")
            ops.append(("dense", name, w["kernel"], w.get("bias")))
            ops.append(("act", name, cfg.get("activation", "linear")))
        elif cls == "Conv2DTranspose":
            if list(cfg.get("kernel_size")) != [4, 4] or cfg.get("data_format", "channels_last") != "channels_last" \
                    or list(cfg.get("dilation_rate", [1, 1])) != [1, 1] or cfg.get("groups", 1) != 1 \
                    or cfg.get("output_padding") is not None:
                raise InteropError(path, f"layer {name!r}: facegen's DCGAN needs 4x4 channels_last transposed "
                                         "convolutions without dilation or output padding")
            if w["kernel"].ndim != 4 or w["kernel"].shape[:2] != (4, 4):
                raise InteropError(path, f"layer {name!r} has a kernel of shape {w['kernel'].shape}, not 4x4")
            ops.append(("convt", name, w["kernel"], w.get("bias"), tuple(cfg["strides"]), cfg["padding"]))
            ops.append(("act", name, cfg.get("activation", "linear")))
        elif cls == "BatchNormalization":
            axis = cfg.get("axis", -1)
            if axis not in (-1, 3, [3], [-1]):
                raise InteropError(path, f"layer {name!r} normalises axis {axis}; facegen's DCGAN needs the channel axis")
            n = len(next(iter(w.values())))
            ops.append(("bn", name, w.get("gamma", np.ones(n)), w.get("beta", np.zeros(n)),
                        w["moving_mean"], w["moving_variance"], float(cfg.get("epsilon", 1e-3))))
        elif cls == "Reshape":
            ops.append(("reshape", name, tuple(cfg["target_shape"])))
        elif cls == "ReLU":
            if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
                raise InteropError(path, f"layer {name!r} is a clipped or leaky ReLU; facegen's DCGAN uses a plain ReLU")
            ops.append(("act", name, "relu"))
        elif cls == "Activation":
            ops.append(("act", name, cfg.get("activation")))
    return [op for op in ops if op[:1] != ("act",) or op[2] != "linear"]


def read_keras_dcgan(path: Path, latent_distribution: str | None = None, **meta):
    """A facegen DCGANGenerator holding the weights of the Keras generator in `path`."""
    h5py = need("h5py", "keras")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InteropError(path, f"is not an HDF5 file ({e})") from None
    with f:
        _walk_links(path, f)
        raw = f.attrs.get("model_config")
        if raw is None:
            raise InteropError(path, "has no model_config: a weights-only .h5 does not say how its layers connect")
        try:
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise InteropError(path, f"has an unreadable model_config ({e})") from None
        root = f["model_weights"] if "model_weights" in f else f
        try:
            ops = _ops(path, _layers(path, config), root)
        except (KeyError, TypeError, ValueError, AttributeError, OSError, StopIteration) as e:
            if isinstance(e, InteropError):
                raise
            raise InteropError(path, f"has a layer config or weight facegen does not understand ({e!r})") from None
    try:
        return _build(path, ops, latent_distribution, meta)
    except (ValueError, TypeError, IndexError) as e:
        if isinstance(e, InteropError):
            raise
        raise InteropError(path, f"has layers whose weights do not fit together ({e})") from None


def _build(path, ops: list[tuple], latent_distribution: str | None, meta: dict):
    import torch

    def fail(op, want):
        raise InteropError(path, f"layer {op[1]!r} ({op[0]}) is not what a DCGAN generator has here: expected {want}")

    # facegen's own map from uniform noise to a normal latent: the model behind it takes z ~ N(0, 1).
    if ops and ops[0][0] == "reshape" and len(ops[0][2]) == 2 and ops[0][2][1] == 1:
        from .keras_export import _ICDF_A, _ICDF_B, _ICDF_C, _ICDF_D

        kinds = [op[0] for op in ops[1:5]]
        if kinds != ["dense", "act", "dense", "reshape"] or ops[2][2] != "tanh" or not (
                np.allclose(ops[1][2], [_ICDF_A], atol=1e-4) and np.allclose(ops[1][3], _ICDF_B, atol=1e-4)
                and np.allclose(ops[3][2], np.array([_ICDF_C]).T, atol=1e-4)
                and np.allclose(ops[3][3], [_ICDF_D], atol=1e-4)):
            fail(ops[0], "facegen's uniform-to-normal layers, with their fixed weights")
        ops = ops[5:]
        latent_distribution = latent_distribution or "normal"
    latent_distribution = latent_distribution or "uniform01"  # what the classic script feeds

    # The first layer: latent -> 4x4xC.
    if len(ops) < 2:
        raise InteropError(path, "has too few layers for a DCGAN generator")
    if ops[0][0] == "dense" and ops[1][0] == "reshape" and ops[1][2][:2] == (4, 4) and len(ops[1][2]) == 3:
        kernel, bias = ops[0][2], ops[0][3]
        latent_dim, c0 = kernel.shape[0], ops[1][2][2]
        if kernel.shape[1] != 16 * c0:
            raise InteropError(path, f"layer {ops[0][1]!r} has {kernel.shape[1]} units; Reshape(4, 4, {c0}) "
                                     f"needs {16 * c0}")
        w0 = kernel.reshape(latent_dim, 4, 4, c0).transpose(0, 3, 1, 2)
        bias = None if bias is None else bias.reshape(4, 4, c0)
    elif ops[0][0] == "reshape" and ops[0][2][:2] == (1, 1) and ops[1][0] == "convt" and ops[1][4] == (1, 1) \
            and ops[1][5] == "valid":
        w0 = ops[1][2].transpose(3, 2, 0, 1)
        latent_dim, bias = w0.shape[0], ops[1][3]
    else:
        fail(ops[0], "Dense + Reshape(4, 4, C), or Reshape(1, 1, L) + Conv2DTranspose(C, 4, padding='valid')")
    if latent_distribution == "uniform01":
        # facegen's own uniform01 DCGAN standardises z before its first layer (DCGANGenerator.latent_affine):
        # u @ K + c == (sqrt(12) (u - 0.5)) @ (K / sqrt(12)) + (c + 0.5 sum_i K_i). Its exports fold that
        # into the first layer's bias; other models take the raw noise.
        offset = 0.5 * w0.sum(axis=0).transpose(1, 2, 0)  # [4, 4, C], as the Dense bias is laid out
        candidate = offset if bias is None else bias + offset  # bias: [4, 4, C] (Dense) or [C] (conv)
        if _per_channel(candidate):
            bias, w0 = candidate, w0 / np.sqrt(12.0)
        else:
            meta = dict(meta, standardize_latent=False)
    convs, norms, rest = [w0], [], ops[2:]
    while True:
        if len(rest) < 3:
            raise InteropError(path, "ends early: after the last BatchNormalization + ReLU a DCGAN has a "
                                     "Conv2DTranspose to 3 channels and tanh")
        bn, act, conv = rest[0], rest[1], rest[2]
        if bn[0] != "bn":
            fail(bn, "BatchNormalization")
        if act[0] != "act" or act[2] != "relu":
            fail(act, "a ReLU (facegen's DCGAN generator uses ReLU)")
        if conv[0] != "convt" or conv[4] != (2, 2) or conv[5] != "same":
            fail(conv, "Conv2DTranspose(kernel 4, strides 2, padding 'same')")
        gamma, beta, mean, var, eps = bn[2:]
        if bias is not None:
            per_channel = bias.reshape(-1, bias.shape[-1])
            if not _per_channel(per_channel):
                raise InteropError(path, f"the bias before {bn[1]!r} differs across pixels; facegen's DCGAN "
                                         "cannot hold it (export with truncation 1 to round-trip)")
            mean = mean - per_channel[0]  # BN(x + b) with mean m equals BN(x) with mean m - b
        # facegen's BatchNorm2d has eps 1e-5: move the difference into the variance.
        norms.append((gamma, beta, mean, var + eps - 1e-5))
        convs.append(conv[2].transpose(3, 2, 0, 1))
        bias, rest = conv[3], rest[3:]
        if not rest or rest[0][0] != "bn":
            break
    if [op[0] for op in rest] != ["act"] or rest[0][2] != "tanh":
        fail(rest[0] if rest else conv, "tanh as the last layer")
    if bias is not None and np.abs(bias).max() > 0:
        raise InteropError(path, f"the last Conv2DTranspose {conv[1]!r} has a bias; facegen's DCGAN has none")
    if convs[-1].shape[1] != 3:
        raise InteropError(path, f"the generator makes {convs[-1].shape[1]} channels; facegen makes RGB (3)")
    for a, b in zip(convs, convs[1:]):
        if b.shape[0] != a.shape[1]:
            raise InteropError(path, f"a layer takes {b.shape[0]} channels but the one before gives {a.shape[1]}")
    model = build_dcgan(path, int(latent_dim), [int(c.shape[1]) for c in convs[:-1]], latent_distribution, **meta)
    tconvs = [m for m in model.net if isinstance(m, torch.nn.ConvTranspose2d)]
    tnorms = [m for m in model.net if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m, w in zip(tconvs, convs):
            m.weight.copy_(torch.from_numpy(w.copy()))
        for m, (gamma, beta, mean, var) in zip(tnorms, norms):
            if np.min(var) <= 0:
                raise InteropError(path, "a BatchNormalization has a non-positive moving variance")
            for t, v in ((m.weight, gamma), (m.bias, beta), (m.running_mean, mean), (m.running_var, var)):
                if tuple(t.shape) != v.shape:
                    raise InteropError(path, f"a BatchNormalization has {v.shape[0]} channels, expected {t.shape[0]}")
                t.copy_(torch.from_numpy(np.ascontiguousarray(v)))
    return model


def _per_channel(bias: np.ndarray) -> bool:
    """True when a [..., C] bias is the same at every pixel, so BatchNorm can absorb it."""
    flat = bias.reshape(-1, bias.shape[-1])
    # float32 sums leave residues of ~1e-7 of the terms' size; anything real is far larger.
    tol = 1e-5 * max(1.0, float(np.abs(flat).max()))
    return bool(np.allclose(flat, flat[0], rtol=0, atol=tol))
