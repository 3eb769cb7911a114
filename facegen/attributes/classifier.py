"""A small CNN that reads CelebA's 40 attributes off a face, and the names artists use for them.

It sees every face at 64 x 64 (a larger picture is area-averaged down first), so
one classifier serves models of any resolution. Its job is to *find* named edit
directions (facegen.explore.named) and to measure them (bench/directions.py);
editing with the directions never needs it. The weights (~0.5 MB in float16)
ship in facegen/assets/attributes.safetensors with a JSON header: the labels,
each one's decision threshold, and its accuracy on CelebA's labelled test photos.
Trained by scripts/train_attributes.py from photos made ready by `facegen prepare`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FORMAT = "facegen-attributes"
INPUT_SIZE = 64
ASSET = Path(__file__).resolve().parent.parent / "assets" / "attributes.safetensors"

# CelebA's 40 labels, in the order of its attribute files.
LABELS = ("5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
          "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
          "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
          "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
          "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
          "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young")

# Slider name -> (CelebA label, sign): +1 moves toward the label, -1 away from it ("age" = less Young).
# The portrait attributes named edits are looked for; judgements of taste (Attractive) and labels
# of the photo rather than the face (Blurry) are left out.
NAMED = {
    "smile": ("Smiling", 1), "age": ("Young", -1), "masculine": ("Male", 1), "glasses": ("Eyeglasses", 1),
    "blond-hair": ("Blond_Hair", 1), "black-hair": ("Black_Hair", 1), "brown-hair": ("Brown_Hair", 1),
    "gray-hair": ("Gray_Hair", 1), "wavy-hair": ("Wavy_Hair", 1), "straight-hair": ("Straight_Hair", 1),
    "bangs": ("Bangs", 1), "bald": ("Bald", 1), "receding-hairline": ("Receding_Hairline", 1),
    "beard": ("No_Beard", -1), "goatee": ("Goatee", 1), "mustache": ("Mustache", 1), "stubble": ("5_o_Clock_Shadow", 1),
    "makeup": ("Heavy_Makeup", 1), "lipstick": ("Wearing_Lipstick", 1), "pale-skin": ("Pale_Skin", 1),
    "rosy-cheeks": ("Rosy_Cheeks", 1), "hat": ("Wearing_Hat", 1), "mouth-open": ("Mouth_Slightly_Open", 1),
    "chubby": ("Chubby", 1), "double-chin": ("Double_Chin", 1), "bushy-eyebrows": ("Bushy_Eyebrows", 1),
    "arched-eyebrows": ("Arched_Eyebrows", 1), "high-cheekbones": ("High_Cheekbones", 1),
    "big-nose": ("Big_Nose", 1), "narrow-eyes": ("Narrow_Eyes", 1), "earrings": ("Wearing_Earrings", 1),
}


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.SiLU(),
                         nn.AvgPool2d(2))


class AttributeNet(nn.Module):
    """64 px in, one logit per label out: four conv blocks (64 -> 4 px), average pool, linear."""

    def __init__(self, num_labels: int = len(LABELS), width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 8 * w))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(8 * w, num_labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3), keepdim=True))


def to_input(x: torch.Tensor) -> torch.Tensor:
    """A generator's [-1, 1] NCHW output at any resolution -> the classifier's 64 px input."""
    x = x.float().clamp(-1, 1)
    if x.shape[-1] != INPUT_SIZE:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="area" if x.shape[-1] > INPUT_SIZE else "bilinear")
    return x


def from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 pictures (a prepared dataset, PIL images) -> the classifier's input."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    return to_input((x - 128.0) / 127.5)


@dataclass
class AttributeClassifier:
    net: AttributeNet
    labels: tuple[str, ...]
    thresholds: torch.Tensor  # [L] logit above which a label counts as present
    meta: dict = field(default_factory=dict)  # training run, test accuracy per label

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise ValueError(f"the classifier has no label {label!r}") from None

    @torch.inference_mode()
    def logits(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Logits minus thresholds (> 0: present) for [-1, 1] NCHW faces at any resolution."""
        self.net.eval()
        out = [self.net(to_input(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return torch.cat(out) - self.thresholds

    def save(self, path: str | Path) -> Path:
        import safetensors.torch

        from ..atomic import write_bytes

        tensors = {k: v.detach().half().contiguous() for k, v in self.net.state_dict().items()
                   if v.dtype.is_floating_point}
        tensors["thresholds"] = self.thresholds.float().contiguous()
        meta = dict(self.meta, format=FORMAT, version=1, labels=list(self.labels), input_size=INPUT_SIZE,
                    width=self.net.features[0][0].out_channels)
        write_bytes(path, safetensors.torch.save(tensors, metadata={FORMAT: json.dumps(meta)}), overwrite=True)
        return Path(path)


def load_classifier(path: str | Path | None = None) -> AttributeClassifier:
    """The shipped classifier (or one at `path`); safetensors only, so loading runs no code."""
    from safetensors import safe_open

    path = Path(path) if path else ASSET
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no attribute classifier (train one with scripts/train_attributes.py)")
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})[FORMAT])
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    except Exception as e:  # safetensors raises its own types for damaged files
        raise ValueError(f"{path}: not a facegen attribute classifier ({type(e).__name__}: {e})") from None
    labels = tuple(meta["labels"])
    net = AttributeNet(len(labels), int(meta.get("width", 32)))
    state = net.state_dict()
    missing = [k for k, v in state.items() if v.dtype.is_floating_point and k not in tensors]
    if missing:
        raise ValueError(f"{path}: missing weights {missing[:3]}")
    net.load_state_dict({k: tensors.get(k, v) for k, v in state.items()})
    net.eval().requires_grad_(False)
    return AttributeClassifier(net, labels, tensors["thresholds"], meta)
