"""Triangular and symmetric BLAS (trmm, syrk) callable from Numba kernels.

Numba's ``np.dot`` always calls GEMM. The ReLU-moment kernel multiplies by a
triangular Cholesky factor and forms a symmetric Gram matrix, and TRMM / SYRK
do each of those in half GEMM's flops. We call SciPy's own BLAS (the library
Numba's ``np.dot`` uses too) through the function pointers that
``scipy.linalg.cython_blas`` exports, with the Fortran calling convention:
every argument by pointer, 32-bit integers, column-major matrices.

A C-contiguous (rows, d) array is, to Fortran, the column-major (d, rows)
matrix of its transpose; the wrappers below do that bookkeeping once.
"""

from __future__ import annotations

import ctypes

import numpy as np
import scipy.linalg.cython_blas as _cython_blas

from mcbench._core.jit import jit

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.restype = ctypes.c_char_p
_get_name.argtypes = [ctypes.py_object]


def _blas_function(name: str, n_args: int):
    capsule = _cython_blas.__pyx_capi__[name]
    address = _get_pointer(capsule, _get_name(capsule))
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_args))(address)


_SYRK = {np.dtype(np.float64): _blas_function("dsyrk", 10), np.dtype(np.float32): _blas_function("ssyrk", 10)}
_TRMM = {np.dtype(np.float64): _blas_function("dtrmm", 11), np.dtype(np.float32): _blas_function("strmm", 11)}

_UPPER = ord("U")
_LOWER = ord("L")
_NOTRANS = ord("N")
_NONUNIT = ord("N")


def blas_functions(dtype):
    """(syrk, trmm) function pointers for ``dtype``, to pass into kernels.

    They travel as arguments rather than globals because Numba cannot cache a
    function that holds a ctypes pointer as a global; as arguments, the
    compiled kernel is cached and the address is supplied at call time.
    """
    dtype = np.dtype(dtype)
    return _SYRK[dtype], _TRMM[dtype]


@jit
def gram_lower(syrk, x, out):
    """``out``'s lower triangle <- x.T @ x, for C-contiguous x (rows, d) and out (d, d).

    The strict upper triangle of ``out`` is left untouched (it may hold
    garbage): callers read only ``out[i, j]`` with ``j <= i``.
    """
    rows, d = x.shape
    # Fortran sees x as X^T (d x rows): C = A A^T with A = X^T, kept in
    # Fortran's upper triangle, which is our (row-major) lower triangle.
    flags = np.array([_UPPER, _NOTRANS], np.uint8)
    dims = np.array([d, rows], np.int32)
    scalars = np.empty(2, x.dtype)
    scalars[0] = 1.0
    scalars[1] = 0.0
    syrk(flags[0:].ctypes, flags[1:].ctypes, dims[0:].ctypes, dims[1:].ctypes,
         scalars[0:].ctypes, x.ctypes, dims[0:].ctypes, scalars[1:].ctypes,
         out.ctypes, dims[0:].ctypes)


@jit
def times_upper(trmm, z, upper):
    """In place z <- z @ upper, for C-contiguous z (rows, d) and upper-triangular upper (d, d)."""
    rows, d = z.shape
    # Fortran: B = Z^T (d x rows) and A = our row-major upper read column-major,
    # i.e. its transpose, a lower-triangular matrix. Z @ U = (U^T Z^T)^T: B <- A B.
    flags = np.array([_LOWER, _LOWER, _NOTRANS, _NONUNIT], np.uint8)
    dims = np.array([d, rows], np.int32)
    one = np.ones(1, z.dtype)
    trmm(flags[0:].ctypes, flags[1:].ctypes, flags[2:].ctypes, flags[3:].ctypes,
         dims[0:].ctypes, dims[1:].ctypes, one.ctypes, upper.ctypes, dims[0:].ctypes,
         z.ctypes, dims[0:].ctypes)
