"""Faces put into photos: `swap` (faces that do not exist replace real ones) and `remaster`
(the faces of an old photo or painting inverted and regenerated clean)."""
from .align import ComposeError, PhotoFace, find_faces
from .remastering import RemasterResult, remaster
from .rules import SWAP_MIN_DISTANCE, check_swap_source
from .swap import SwapResult, swap_faces

__all__ = ["ComposeError", "PhotoFace", "find_faces", "RemasterResult", "remaster", "SWAP_MIN_DISTANCE",
           "check_swap_source", "SwapResult", "swap_faces"]
