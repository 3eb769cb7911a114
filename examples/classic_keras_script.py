"""The classic Keras face script, unchanged below the imports.

Make its model with facegen, then run it where the file is:

    facegen export classic --format keras-h5 --out face_generator_model.h5
    python classic_keras_script.py          # writes generated_face.jpg

With TensorFlow installed it uses tf.keras; without, Keras 3 on its PyTorch
backend (pip install keras h5py) stands in as `tf.keras`.
"""
import os
import types

import numpy as np
from PIL import Image

try:
    import tensorflow as tf
except ImportError:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    tf = types.SimpleNamespace(keras=keras)

model = tf.keras.models.load_model('face_generator_model.h5')
random_input = np.random.rand(1, 100)
generated_face = model.predict(random_input)
generated_face = (generated_face + 1) * 127.5
generated_face = generated_face.astype(np.uint8)
Image.fromarray(generated_face[0]).save('generated_face.jpg')
