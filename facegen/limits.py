"""The ranges facegen accepts, in one torch-free place: the CLI's argparse, the HTTP API's
schemas, the pipeline, the explore tools and the recipe checks read them here. (A server's
per-request limits, which `facegen serve` can tighten, are facegen.server.limits.Limits.)"""

# Truncation psi: 1 full variety, 0.5-0.8 safer faces, 0 the average face, below 0 its opposite.
TRUNCATION_MIN, TRUNCATION_MAX = -2.0, 2.0
MAX_FACES = 10_000  # faces one call makes: -n, --seeds, a seed range, the seeds of a recipe
MAX_FRAMES = 10_000  # frames of a morph
MAX_SEED = 2**63 - 1
MIN_SIZE, MAX_SIZE = 16, 2048  # side of an output image in pixels (--size, a request's size, a recipe's)
MAX_BATCH = 1024  # faces synthesised together (a pipeline's batch_size, a sheet recipe's batch)

# The explore tools.
# transform: beyond these the face is past anything the model was trained on, by far.
TRANSFORM_LIMITS = {"exaggerate": 10.0, "truncation": 10.0, "strength": 30.0, "style_jitter": 5.0,
                    "noise_scale": 20.0}
# The truncation a recipe or latent file may record: up to a transform's, beyond what generate takes.
MAX_RECORDED_TRUNCATION = TRANSFORM_LIMITS["truncation"]
MAX_EDIT_STRENGTH = 10.0  # edit strips, in standard deviations along the direction
MAX_CHILDREN = 64
MAX_MUTATION = 2.0
MAX_FPS = 60.0  # of a morph video
