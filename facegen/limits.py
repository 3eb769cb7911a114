"""The ranges facegen accepts, in one torch-free place: the CLI's argparse, the HTTP API's
schemas, the pipeline, the explore tools and the recipe checks read them here. A server's
per-request limits start from the SERVER_ defaults below; `facegen serve` can change them, and
facegen.server.limits.Limits checks them."""

# Truncation psi: 1 full variety, 0.5-0.8 safer faces, 0 the average face, below 0 its opposite.
TRUNCATION_MIN, TRUNCATION_MAX = -2.0, 2.0
MAX_FACES = 10_000  # faces one call makes: -n, --seeds, a seed range, the seeds of a recipe
MAX_FRAMES = 10_000  # frames of a morph
MAX_SEED = 2**63 - 1
MIN_SIZE, MAX_SIZE = 16, 2048  # side of an output image in pixels (--size, a request's size, a recipe's)
MAX_BATCH = 1024  # faces synthesised together (a pipeline's batch_size, a sheet recipe's batch)

# A generator's shape (models.config checks a model file against these).
RESOLUTIONS = (32, 64, 128, 256)
MAX_LATENT = 4096
MAX_CHANNELS = 4096
MAX_MAPPING_LAYERS = 16

# `facegen train`: the range of each numeric option, both ends allowed. The CLI's parser and
# TrainOptions.resolve (the Python API's way in) both check against this table.
TRAIN_RANGES = {
    "kimg": (1e-3, 1e6), "batch": (1, 4096), "lr": (1e-7, 0.5), "latent_dim": (1, MAX_LATENT),
    "w_dim": (1, MAX_CHANNELS), "mapping_layers": (1, MAX_MAPPING_LAYERS), "r1_gamma": (0.0, 1000.0),
    "r1_every": (1, 1000), "ema_kimg": (0.0, 1e4), "augment_p": (0.0, 1.0), "style_mixing": (0.0, 1.0),
    "seed": (0, MAX_SEED), "snapshot_kimg": (1e-3, 1e6), "sample_kimg": (1e-3, 1e6), "keep": (1, 1000),
    "freeze_g": (0, MAX_MAPPING_LAYERS), "d_warmup_kimg": (0.0, 1e6),
}

# `--discriminator`: residual (StyleGAN2's, learns from pixels) or features (heads on the attribute
# classifier's frozen features: for a few hundred pictures; style generators only).
DISCRIMINATORS = ("residual", "features")

# Faces into photos (compose): how a face is blended in. Swap blends in the gradient domain
# (bench/swap.py: its seam goal met on 94% of faces, feathered on 86%); remaster keeps the
# feathered mask.
BLENDS = ("feather", "poisson")
SWAP_BLEND, REMASTER_BLEND = "poisson", "feather"

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

# `facegen serve`: the defaults of one request's limits (server.limits.Limits, serve's options).
SERVER_MAX_FACES = 16  # faces per call (generate n, breed children)
SERVER_MAX_FRAMES = 60  # morph frames per call
SERVER_QUEUE_DEPTH = 8  # inference jobs admitted at once (one runs, the rest wait)


def check_truncation(truncation: float) -> None:
    if not isinstance(truncation, (int, float)) or not TRUNCATION_MIN <= truncation <= TRUNCATION_MAX:
        raise ValueError(f"truncation must be a number between {TRUNCATION_MIN:g} and {TRUNCATION_MAX:g}, "
                         f"got {truncation!r}")
