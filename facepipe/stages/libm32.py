"""float32 cosf / sinf / atan2f from the C library, as MediaPipe's C++ calculators call them.

MediaPipe's rect and projection maths run in float32 and take their angles from
the platform's libm (`std::cos(float)` is `cosf`, `std::atan2(float, float)` is
`atan2f`). Those are not correctly rounded: on glibc 2.36 `atan2f` differs from
the correctly rounded value for ~15 % of inputs and `cosf` for ~1 %, and numpy's
own float32 SIMD versions differ more often. In tracking mode every frame's ROI
comes from the previous frame's, so a last-bit difference in a rotation feeds
back and grows. Calling the same libm functions keeps facepipe's ROIs equal to
MediaPipe's bit for bit on the same platform.

Without a loadable C math library (unusual), the functions fall back to the
correctly rounded value (float64 maths rounded to float32).

These functions are for the few angles per frame of the ROI maths (one per
ROI), not for bulk arrays: they call libm once per element.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

import numpy as np

__all__ = ["cosf", "sinf", "atan2f", "sigmoidf", "HAVE_LIBM"]

log = logging.getLogger(__name__)


def _load_libm() -> ctypes.CDLL | None:
    candidates = ["ucrtbase", "msvcrt"] if sys.platform == "win32" else [ctypes.util.find_library("m"), "libm.so.6"]
    for name in candidates:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            for fn, nargs in (("cosf", 1), ("sinf", 1), ("atan2f", 2)):
                f = getattr(lib, fn)
                f.restype = ctypes.c_float
                f.argtypes = [ctypes.c_float] * nargs
        except (OSError, AttributeError):
            continue
        return lib
    log.debug("no C math library found: float32 angles are correctly rounded instead of libm's")
    return None


_LIBM = _load_libm()
HAVE_LIBM = _LIBM is not None


def _unary(name: str, fallback) -> callable:
    def f(x) -> np.ndarray:
        a = np.asarray(x, np.float32)
        if _LIBM is None:
            return fallback(a.astype(np.float64)).astype(np.float32)
        fn = getattr(_LIBM, name)
        return np.array([fn(v) for v in a.ravel().tolist()], np.float32).reshape(a.shape)

    f.__name__ = name
    f.__doc__ = f"libm's {name} of a float32 array (or scalar), as a float32 array."
    return f


cosf = _unary("cosf", np.cos)
sinf = _unary("sinf", np.sin)


def atan2f(y, x) -> np.ndarray:
    """libm's atan2f(y, x) elementwise, as a float32 array."""
    y, x = np.broadcast_arrays(np.asarray(y, np.float32), np.asarray(x, np.float32))
    if _LIBM is None:
        return np.arctan2(y.astype(np.float64), x.astype(np.float64)).astype(np.float32)
    fn = _LIBM.atan2f
    return np.array([fn(a, b) for a, b in zip(y.ravel().tolist(), x.ravel().tolist())], np.float32).reshape(y.shape)


def sigmoidf(x) -> np.ndarray:
    """1.0f / (1.0f + expf(-x)) in float32, as MediaPipe's calculators compute a sigmoid.

    expf comes from float64 exp rounded to float32 (vectorized): that equals glibc's expf for
    all but ~0.1 % of inputs, where numpy's own float32 exp differs for ~40 %.
    """
    v = np.asarray(x, np.float32)
    with np.errstate(over="ignore"):  # exp overflow -> inf -> a sigmoid of exactly 0, as in C++
        e = np.exp(-v.astype(np.float64)).astype(np.float32)
    return np.float32(1) / (np.float32(1) + e)
