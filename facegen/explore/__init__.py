"""Explore and transform faces: faces as latents, morphs, breeding and style mixing,
edit directions (SeFa, GANSpace) and unreal faces. One module per idea; each CLI
command in facegen/cli is a thin shell over these functions.
"""
from .breed import Brood, breed, mixing_grid
from .directions import Directions, compute, edit, load_directions, save_directions
from .faces import Face, FaceRefError, average_w, load_latent, resolve_face, resolve_faces, save_latent
from .layers import StyleOnlyError, layer_groups, parse_layers
from .morph import Morph, lerp, morph, slerp, write_gif, write_mp4
from .transform import Transformed, transform

__all__ = ["Brood", "Directions", "Face", "FaceRefError", "Morph", "StyleOnlyError", "Transformed", "average_w",
           "breed", "compute", "edit", "layer_groups", "lerp", "load_directions", "load_latent", "mixing_grid",
           "morph", "parse_layers", "resolve_face", "resolve_faces", "save_directions", "save_latent", "slerp",
           "transform", "write_gif", "write_mp4"]
