"""Read .npy and .npz files that came from anywhere: no pickle, and nothing allocated that the file
does not hold.

`np.load` trusts the header: a 200-byte .npy declaring 2**40 floats makes it allocate 4 TiB (a
MemoryError) and a damaged header or zip raises half a dozen exception types (SyntaxError,
tokenize.TokenError, zipfile.BadZipFile, zlib.error, EOFError...). Here every array's declared size
is checked against the bytes really present first, and every failure is one `ArrayFileError`.
"""
from __future__ import annotations

import io
import os
import zipfile

import numpy as np

# Kinds a latent or its metadata can be: floats, ints, bools, unicode (the JSON metadata).
KINDS = "fiubU"


class ArrayFileError(ValueError):
    """The file is not a readable .npy/.npz; the message says why (the caller adds the file name)."""


def _header(f, total: int) -> tuple[tuple, bool, np.dtype, int, int]:
    """(shape, fortran order, dtype, element count, data offset) of the .npy in file object `f`,
    checked: numbers only, and exactly as many bytes after the header as it declares (`total` in all)."""
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f, max_header_size=10_000)
    except Exception as e:  # the header parser raises many types on damaged input; all mean the same here
        raise ArrayFileError(f"not a .npy array ({type(e).__name__}: {e})") from None
    if dtype.hasobject or dtype.kind not in KINDS or dtype.fields is not None:
        raise ArrayFileError(f"holds {dtype} data, not numbers (pickled objects are never loaded)")
    count = 1
    for d in shape:
        count *= d
    offset = f.tell()
    if count * dtype.itemsize != total - offset:
        raise ArrayFileError(f"its header declares {shape} {dtype} ({count * dtype.itemsize} bytes) "
                             f"but {total - offset} bytes follow it")
    return shape, fortran, dtype, count, offset


def read_npy(data: bytes) -> np.ndarray:
    """The array in .npy bytes, refusing object arrays and any header that claims more than it holds."""
    shape, fortran, dtype, count, offset = _header(io.BytesIO(data), len(data))
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def map_npy(path) -> np.ndarray:
    """A .npy file memory-mapped read-only, once its header has passed the same checks."""
    with open(path, "rb") as f:
        shape, fortran, dtype, count, offset = _header(f, os.fstat(f.fileno()).st_size)
    if count == 0:
        return np.zeros(shape, dtype)  # mmap cannot map zero bytes
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def read_npz(data: bytes, max_bytes: int) -> dict[str, np.ndarray]:
    """Every array in .npz bytes by name; a member that unpacks past `max_bytes` is refused unread."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = z.infolist()
            if sum(m.file_size for m in members) > max_bytes:
                raise ArrayFileError(f"unpacks to {sum(m.file_size for m in members)} bytes, over {max_bytes}")
            out = {}
            for m in members:
                name = m.filename[:-4] if m.filename.endswith(".npy") else m.filename
                out[name] = read_npy(z.read(m))  # zipfile stops at file_size and checks the CRC
            return out
    except ArrayFileError:
        raise
    except Exception as e:  # BadZipFile, zlib.error, EOFError, NotImplementedError (compression), ...
        raise ArrayFileError(f"not a readable .npz archive ({type(e).__name__}: {e})") from None
