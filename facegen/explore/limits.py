"""The documented ranges of the explore tools, in one torch-free place the CLI can read quickly."""

# transform: beyond these the face is past anything the model was trained on, by far.
TRANSFORM_LIMITS = {"exaggerate": 10.0, "truncation": 10.0, "strength": 30.0, "style_jitter": 5.0,
                    "noise_scale": 20.0}
MAX_EDIT_STRENGTH = 10.0  # edit strips, in standard deviations along the direction
MAX_CHILDREN = 64
MAX_MUTATION = 2.0
