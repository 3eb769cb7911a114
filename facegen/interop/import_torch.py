"""pytorch-examples DCGAN `netG` state dicts (and gan-face-generate's weights.tar) -> facegen dcgan.

The layout (pytorch/examples dcgan, and the PyTorch DCGAN faces tutorial):
    main.0  ConvTranspose2d(nz, ngf*8, 4, 1, 0, bias=False)    main.1  BatchNorm2d  main.2 ReLU
    main.3  ConvTranspose2d(ngf*8, ngf*4, 4, 2, 1, bias=False)  main.4  BatchNorm2d  ...
    main.12 ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False)        main.13 Tanh
which is facegen's DCGANGenerator.net index for index. A checkpoint is a pickle, so it is
read only with torch.load(weights_only=True), which builds tensors and plain containers
and refuses any other object.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

from . import InteropError, build_dcgan

WRAPPER_KEYS = ("netG_state_dict", "netG", "generator", "state_dict")
_KEY = re.compile(r"main\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)")


def load_state_dict(path: Path) -> dict:
    """A flat {name: tensor} dict from a torch checkpoint, or a clear refusal."""
    import torch

    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04" and not (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"):
        raise InteropError(path, "is not a PyTorch checkpoint (neither torch.save's zip format nor a pickle)")
    try:
        data = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        # Quote only torch's reason: the rest of its message suggests weights_only=False.
        reason = re.search(r"WeightsUnpickler error: ([^\n]*?)(?: Please use|\n|$)", str(e))
        reason = reason.group(1).strip() if reason and reason.group(1).strip() else "not tensors or plain data"
        raise InteropError(path, "holds pickled Python objects besides tensors, which facegen will not load "
                                 f"({reason})") from None
    except Exception as e:  # torch raises many types for a file that is not a checkpoint at all
        raise InteropError(path, f"is not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    state = data
    if isinstance(data, dict) and not _is_flat(data):
        found = [k for k in WRAPPER_KEYS if k in data]
        if not found:
            keys = ", ".join(map(str, list(data)[:6]))
            raise InteropError(path, f"is a dict without a generator state dict (keys: {keys}); expected "
                                     f"tensors named main.N.weight, or one of {', '.join(WRAPPER_KEYS)}")
        state = data[found[0]]
    if not isinstance(state, dict) or not _is_flat(state):
        raise InteropError(path, f"holds a {type(state).__name__}, not a flat dict of tensors "
                                 "(a generator's state_dict)")
    return {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}


def _is_flat(d: dict) -> bool:
    import torch

    return bool(d) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def read_torch_dcgan(path: Path, latent_distribution: str = "normal", **meta):
    """A facegen DCGANGenerator holding the netG weights in `path`."""
    state = load_state_dict(path)
    odd = sorted(k for k in state if not _KEY.fullmatch(k))
    if odd:
        raise InteropError(path, f"has tensors that are not part of a pytorch-examples DCGAN generator: "
                                 f"{', '.join(odd[:5])} (expected main.N.weight, main.N.running_mean, ...)")
    convs = sorted(int(_KEY.fullmatch(k).group(1)) for k, v in state.items() if k.endswith(".weight") and v.dim() == 4)
    if not convs or convs != [3 * i for i in range(len(convs))]:
        raise InteropError(path, f"has transposed convolutions at main.{convs}; the DCGAN layout puts them at "
                                 "main.0, main.3, main.6, ... (conv, batch norm, ReLU)")
    weights = [state[f"main.{i}.weight"] for i in convs]
    for i, w in zip(convs, weights):
        if tuple(w.shape[2:]) != (4, 4):
            raise InteropError(path, f"main.{i}.weight has kernel {tuple(w.shape[2:])}; the DCGAN layout uses 4x4")
    if weights[-1].shape[1] != 3:
        raise InteropError(path, f"the generator makes {weights[-1].shape[1]} channels; facegen makes RGB (3)")
    for a, b, i in zip(weights, weights[1:], convs[1:]):
        if b.shape[0] != a.shape[1]:
            raise InteropError(path, f"main.{i}.weight takes {b.shape[0]} channels, but the layer before "
                                     f"gives {a.shape[1]}")
    latent_dim = int(weights[0].shape[0])
    channels = [int(w.shape[1]) for w in weights[:-1]]
    model = build_dcgan(path, latent_dim, channels, latent_distribution, **meta)
    want = model.state_dict()
    renamed = {"net." + k[5:]: v for k, v in state.items()}
    missing = sorted(k for k in set(want) - set(renamed) if not k.endswith("num_batches_tracked"))
    extra = sorted(set(renamed) - set(want))
    if missing or extra:
        problem = [f"missing {', '.join(k.replace('net.', 'main.', 1) for k in missing[:5])}"] if missing else []
        problem += [f"unexpected {', '.join(k.replace('net.', 'main.', 1) for k in extra[:5])}"
                    " (facegen's DCGAN has no conv biases)"] if extra else []
        raise InteropError(path, "does not match the DCGAN generator layout: " + "; ".join(problem))
    for k, v in renamed.items():
        if tuple(v.shape) != tuple(want[k].shape):
            raise InteropError(path, f"{k.replace('net.', 'main.', 1)} has shape {tuple(v.shape)}, "
                                     f"expected {tuple(want[k].shape)}")
    model.load_state_dict({k: renamed.get(k, want[k]).to(want[k].dtype) for k in want})
    return model
