"""Quality metrics for generators: FID, KID, precision/recall, face detection, memorisation.

One file per metric; `evaluate.evaluate` runs them all for `facegen metrics`.
The maths modules (fid, kid, precision_recall, memorisation) need only numpy.
"""
from .fid import fid, frechet_distance, statistics
from .kid import kid, mmd2_unbiased
from .memorisation import memorisation, nearest
from .precision_recall import knn_radii, precision_recall

__all__ = ["fid", "frechet_distance", "statistics", "kid", "mmd2_unbiased", "memorisation", "nearest",
           "knn_radii", "precision_recall"]
