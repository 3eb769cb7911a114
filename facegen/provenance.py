"""Every image facegen writes says it is AI-generated and carries the recipe to make it again.

The recipe is JSON. It goes into XMP (with IPTC DigitalSourceType
trainedAlgorithmicMedia, which is what content-credential readers look for),
into a PNG text chunk or a JPEG comment, so that plain tools can see it too.
"""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

from PIL import Image, PngImagePlugin

from .atomic import atomic_path

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
RECIPE_KEY = "facegen"
NOTICE = "AI-generated image (a face that does not exist), made with facegen"
MAX_RECIPE_BYTES = 1024**2
FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG"}


class ProvenanceError(ValueError):
    """An image whose facegen recipe is missing or unreadable; names the file."""


def build_xmp(recipe: dict) -> bytes:
    encoded = base64.b64encode(json.dumps(recipe, sort_keys=True).encode()).decode()
    model = recipe.get("model", {})
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:facegen="https://facegen.invalid/ns/1.0/"
    Iptc4xmpExt:DigitalSourceType="{TRAINED_ALGORITHMIC_MEDIA}"
    xmp:CreatorTool="facegen {recipe.get('facegen', '')}"
    facegen:model="{_xml_attr(str(model.get('name', '')))}"
    facegen:modelSha256="{_xml_attr(str(model.get('sha256', '')))}"
    facegen:recipe="{encoded}">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{NOTICE}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode("utf-8")


def _xml_attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def encode_image(image: Image.Image, recipe: dict, fmt: str = "png", quality: int = 95) -> bytes:
    """The bytes of `image` in `fmt` with the recipe and AI-generated notice embedded."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    recipe_json = json.dumps(recipe, sort_keys=True)
    xmp = build_xmp(recipe)
    buf = io.BytesIO()
    if FORMATS[fmt] == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
        info.add_text(RECIPE_KEY, recipe_json)
        info.add_text("Software", f"facegen {recipe.get('facegen', '')}")
        info.add_text("Description", NOTICE)
        image.save(buf, "PNG", pnginfo=info)
    else:
        exif = Image.Exif()
        exif[0x010E] = NOTICE  # ImageDescription
        exif[0x0131] = f"facegen {recipe.get('facegen', '')}"  # Software
        image.save(buf, "JPEG", quality=quality, xmp=xmp, comment=recipe_json.encode(), exif=exif)
    return buf.getvalue()


def save_image(image: Image.Image, path: str | Path, recipe: dict, fmt: str | None = None,
               quality: int = 95, overwrite: bool = False) -> Path:
    """Write an image with its provenance, atomically; refuses to overwrite unless asked."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower() or "png"
    recipe = dict(recipe, format=FORMATS.get(fmt.lower(), fmt).lower(), quality=quality if fmt != "png" else None)
    data = encode_image(image, recipe, fmt, quality)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return path


def read_recipe(path: str | Path) -> dict:
    """The facegen recipe stored in an image, or a ProvenanceError saying why there is none."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            info = dict(im.info)
    except FileNotFoundError:
        raise ProvenanceError(f"{path}: no such file") from None
    except (OSError, Image.DecompressionBombError, ValueError) as e:
        raise ProvenanceError(f"{path}: not a readable image ({e})") from None
    candidates = [info.get(RECIPE_KEY), info.get("comment")]
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if xmp:
        xmp = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
        m = re.search(r'facegen:recipe="([A-Za-z0-9+/=]{1,2000000})"', xmp)
        if m:
            try:
                candidates.append(base64.b64decode(m.group(1)).decode())
            except (ValueError, UnicodeDecodeError):
                pass
    for text in candidates:
        if not text:
            continue
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if len(text) > MAX_RECIPE_BYTES:
            continue
        try:
            recipe = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(recipe, dict) and "facegen" in recipe:
            return recipe
    raise ProvenanceError(f"{path}: carries no facegen recipe (was it made by facegen, or has its metadata been stripped?)")


def is_ai_labelled(path: str | Path) -> bool:
    """True when the image's XMP declares IPTC trainedAlgorithmicMedia."""
    with Image.open(path) as im:
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or b""
    xmp = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    return TRAINED_ALGORITHMIC_MEDIA in xmp
