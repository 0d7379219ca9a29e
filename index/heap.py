"""Giving freed C heap memory back to the operating system (glibc's ``malloc_trim``).

Encoding a corpus allocates and frees a few hundred MB of activations per model batch, of
ever-changing sizes (every batch has its own padded length). glibc keeps freed chunks in its
heaps for reuse and returns memory only from a heap's top, so the scattered holes left
between batches stay resident: the build's RSS ratchets up with every flush of texts,
although nothing still uses the memory. ``malloc_trim`` releases every free page.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _libc() -> Any:
    """glibc, or None (another C library, another OS: nothing to trim)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return libc


def release_free_memory() -> bool:
    """Return the C heap's free pages to the OS; True when some memory was released."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
