"""The ranges facegen accepts, in one torch-free place: the CLI's argparse, the HTTP API's
schemas, the pipeline and the recipe checks read them here. (The explore tools' own ranges
are in facegen/explore/limits.py.)"""

# Truncation psi: 1 full variety, 0.5-0.8 safer faces, 0 the average face, below 0 its opposite.
TRUNCATION_MIN, TRUNCATION_MAX = -2.0, 2.0
MAX_FACES = 10_000  # faces one call makes: -n, --seeds, a seed range, the seeds of a recipe
MAX_FRAMES = 10_000  # frames of a morph
MAX_SEED = 2**63 - 1
