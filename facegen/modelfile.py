"""The model file's old address: it lives with the models now, in facegen/models/file.py."""
from .models.file import (BUNDLED, CONFIG_KEY, MAX_FILE_BYTES, MAX_HEADER_BYTES, ModelFileError, load_generator,
                          read_header, resolve, save_generator)

__all__ = ["BUNDLED", "CONFIG_KEY", "MAX_FILE_BYTES", "MAX_HEADER_BYTES", "ModelFileError", "load_generator",
           "read_header", "resolve", "save_generator"]
