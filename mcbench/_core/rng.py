"""Deterministic, chunked random streams for the Numba kernels.

Why not ``np.random`` inside ``njit``? Numba keeps one generator state per
thread, so which numbers a sample gets depends on which thread ran it, and the
result changes with ``NUMBA_NUM_THREADS``. Here the work is cut into fixed
chunks whose size never depends on the thread count, and chunk ``c`` draws from
its own xoshiro256++ stream whose state is a pure function of ``(seed, c)``.
Any thread may run any chunk and the numbers are the same, bit for bit.

Stream derivation
-----------------
``seed`` (an int or a :class:`numpy.random.SeedSequence`) is hashed once by
``SeedSequence.generate_state`` into a 256-bit key ``k[0..3]``. Word ``w`` of
chunk ``c``'s state is ``splitmix64_mix(k[w] + G * (4 c + w + 1))`` with ``G``
the 64-bit golden-ratio constant. The mix is a bijection of 64-bit words, so
distinct chunks get distinct states, and the key keeps streams of different
seeds unrelated.

Normals
-------
Standard normals come from a 256-layer ziggurat (Marsaglia & Tsang, 2000) with
the exact tail algorithm beyond ``R``; one 64-bit draw supplies the layer index
(8 bits), the sign (1 bit) and a 53-bit uniform, which are disjoint bit ranges.
"""

from __future__ import annotations

import math

import numpy as np

from mcbench._core.jit import jit
from mcbench._core.blas import times_upper
from mcbench._core.checks import check_positive_int
from mcbench.config import CHUNK_ELEMENTS, MIN_CHUNK, TARGET_CHUNKS

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SM_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_SM_MUL2 = np.uint64(0x94D049BB133111EB)
_U53 = 1.0 / 9007199254740992.0  # 2**-53

# ---------------------------------------------------------------- seeds -----


def stream_key(seed) -> np.ndarray:
    """Hash ``seed`` into the 256-bit key (4 x uint64) that all chunk streams derive from.

    Parameters
    ----------
    seed : int or numpy.random.SeedSequence
        Non-negative integer, or a SeedSequence (whose entropy and spawn key
        are both honoured, so ``SeedSequence.spawn`` children give independent
        keys).
    """
    if isinstance(seed, np.random.SeedSequence):
        seq = seed
    else:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(
                f"seed must be a non-negative int or a numpy.random.SeedSequence, "
                f"got {type(seed).__name__} {seed!r}"
            )
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        seq = np.random.SeedSequence(int(seed))
    return seq.generate_state(4, dtype=np.uint64)


def chunk_plan(n: int, d: int, chunk_size: int | None = None) -> tuple[int, int]:
    """Split ``n`` samples of dimension ``d`` into fixed chunks: returns ``(n_chunks, chunk_size)``.

    ``chunk_size`` defaults to :func:`default_chunk_size`. The last chunk holds
    the remainder. A chunk larger than ``n`` is cut to ``n`` (one chunk either
    way: the same draws, without buffers sized for samples that never come).
    The plan depends on ``n``, ``d`` and ``chunk_size`` only, never on the
    number of threads.
    """
    n = check_positive_int(n, "n_samples")
    chunk_size = default_chunk_size(n, d) if chunk_size is None else check_positive_int(chunk_size, "chunk_size")
    chunk_size = min(chunk_size, n)
    return (n + chunk_size - 1) // chunk_size, chunk_size


# ------------------------------------------------------------- xoshiro -----


@jit(inline="always")
def _splitmix64_mix(z):
    z = (z ^ (z >> np.uint64(30))) * _SM_MUL1
    z = (z ^ (z >> np.uint64(27))) * _SM_MUL2
    return z ^ (z >> np.uint64(31))


@jit
def chunk_state(key, chunk_index, state):
    """Fill ``state`` (4 x uint64) with chunk ``chunk_index``'s xoshiro256++ state."""
    base = np.uint64(4) * np.uint64(chunk_index)
    nonzero = np.uint64(0)
    for w in range(4):
        state[w] = _splitmix64_mix(key[w] + _GOLDEN * (base + np.uint64(w + 1)))
        nonzero |= state[w]
    if nonzero == np.uint64(0):  # xoshiro's one forbidden state
        state[0] = np.uint64(1)


@jit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@jit(inline="always")
def _xoshiro_step(s0, s1, s2, s3):
    """One xoshiro256++ step on register-held state: (output, s0, s1, s2, s3)."""
    result = _rotl(s0 + s3, 23) + s0
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@jit(inline="always")
def _next_u64(state):
    result, s0, s1, s2, s3 = _xoshiro_step(state[0], state[1], state[2], state[3])
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3
    return result


@jit(inline="always")
def _next_uniform(state):
    """A float64 uniform on [0, 1) with 53 random bits."""
    return np.float64(np.int64(_next_u64(state) >> np.uint64(11))) * _U53


# ------------------------------------------------------------ ziggurat -----


def _ziggurat_tables(n_layers: int = 256, r: float = 3.6541528853610088):
    """Layer edges x[0..n] and f(x) = exp(-x^2/2) at those edges.

    ``r`` is the right edge of the base strip for 256 layers; ``v`` is each
    layer's area (base strip = rectangle up to r plus the tail).
    """
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2.0) * math.erfc(r / math.sqrt(2.0))
    x = np.empty(n_layers + 1)
    x[0] = v / f(r)
    x[1] = r
    for i in range(1, n_layers - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(v / x[i] + f(x[i])))
    x[n_layers] = 0.0
    fx = np.exp(-0.5 * x * x)
    return x, fx


_ZIG_X, _ZIG_F = _ziggurat_tables()
_ZIG_R = float(_ZIG_X[1])


@jit(inline="always")
def _ziggurat_candidate(bits):
    """Decode one 64-bit draw: layer (low 8 bits), sign (bit 8) and candidate x (top 53 bits)."""
    layer = np.intp(bits & np.uint64(0xFF))
    negative = (bits >> np.uint64(8)) & np.uint64(1)
    x = np.float64(np.int64(bits >> np.uint64(11))) * _U53 * _ZIG_X[layer]
    return layer, negative, x


@jit
def _normal_slow_path(state, layer, x, negative):
    """Wedge and tail of the ziggurat (about 1% of draws); may draw more from ``state``."""
    while True:
        if layer == 0:
            # Exact tail beyond R (Marsaglia 1964): x = R + E1/R accepted when 2 E2 > (E1/R)^2.
            while True:
                e1 = -math.log(1.0 - _next_uniform(state)) / _ZIG_R
                e2 = -math.log(1.0 - _next_uniform(state))
                if 2.0 * e2 > e1 * e1:
                    break
            x = _ZIG_R + e1
            return -x if negative else x
        y = _ZIG_F[layer] + _next_uniform(state) * (_ZIG_F[layer + 1] - _ZIG_F[layer])
        if y < math.exp(-0.5 * x * x):
            return -x if negative else x
        # Rejected: a fresh draw, which may land in the fast rectangle this time.
        bits = _next_u64(state)
        layer, negative, x = _ziggurat_candidate(bits)
        if x < _ZIG_X[layer + 1]:
            return -x if negative else x


@jit
def fill_normals(state, out):
    """Fill the contiguous array ``out`` (any shape, float32 or float64) with N(0, 1) draws.

    The generator state lives in registers on the fast path (99% of draws fall
    inside a ziggurat rectangle); it is written back to ``state`` only around
    the rare wedge/tail draws and at the end.
    """
    flat = out.reshape(out.size)
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
    for i in range(flat.size):
        bits, s0, s1, s2, s3 = _xoshiro_step(s0, s1, s2, s3)
        layer, negative, x = _ziggurat_candidate(bits)
        if x < _ZIG_X[layer + 1]:
            flat[i] = -x if negative else x
        else:
            state[0] = s0
            state[1] = s1
            state[2] = s2
            state[3] = s3
            flat[i] = _normal_slow_path(state, layer, x, negative)
            s0 = state[0]
            s1 = state[1]
            s2 = state[2]
            s3 = state[3]
    state[0] = s0
    state[1] = s1
    state[2] = s2
    state[3] = s3


@jit
def fill_uniforms(state, out):
    """Fill the contiguous array ``out`` with U[0, 1) draws (53-bit resolution)."""
    flat = out.reshape(out.size)
    for i in range(flat.size):
        flat[i] = _next_uniform(state)


# ------------------------------------------------------------- chunking -----



def default_chunk_size(n: int, d: int) -> int:
    """Samples per chunk for an ``n x d`` job: ``clip(ceil(n / 256), 64, max(64, 2**18 // d))``.

    Depends on ``n`` and ``d`` only (never on threads), so the same seed gives
    the same chunks, and hence the same numbers, on any machine.
    """
    cap = max(MIN_CHUNK, CHUNK_ELEMENTS // max(d, 1))
    return int(min(max(-(-n // TARGET_CHUNKS), MIN_CHUNK), cap))


@jit
def draw_normals(key, chunk_index, state, x):
    """Chunk ``chunk_index``'s standard normals into ``x`` (rows, d); ``state`` (4 x uint64) is scratch."""
    chunk_state(key, chunk_index, state)
    fill_normals(state, x)


@jit
def shape_gaussian(trmm, x, lower_t, mean):
    """In place ``x <- x @ lower_t + mean``: standard normals to N(mean, lower_t.T @ lower_t) samples.

    One BLAS TRMM (``lower_t`` is upper-triangular: the transposed factor of
    cov), half the flops of a GEMM, then the mean shift.
    """
    times_upper(trmm, x, lower_t)
    for s in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[s, j] += mean[j]


@jit
def gaussian_chunk(key, chunk_index, trmm, lower_t, mean, state, x):
    """Draw chunk ``chunk_index``'s samples into ``x`` (rows, d): ``x = z @ lower_t + mean``.

    ``z`` are the chunk stream's standard normals (:func:`draw_normals`),
    shaped in place (:func:`shape_gaussian`). Sample ``s`` of the chunk uses
    normals ``s*d .. s*d + d - 1`` of the chunk's stream.
    """
    draw_normals(key, chunk_index, state, x)
    shape_gaussian(trmm, x, lower_t, mean)
