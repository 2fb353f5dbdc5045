"""Monte Carlo of signal propagation through deep random MLPs (forward and backward).

Model
-----
Each of ``n_networks`` independent networks draws fresh weights
``W^l_ij`` (normal or uniform, variance from the spec's init) and biases; each
network sees ``n_inputs`` inputs ``x ~ N(0, input_var I)``. The loss is
``J = sum_i v_i z^L_i`` with ``v ~ N(0, I)`` drawn independently per input, so
the backward signal starts as ``delta^L = v`` and follows
``delta^l = phi'(z^l) * (W^{l+1})^T delta^{l+1}``. Per-sample weight gradients
are ``dJ/dW^l_ij = delta^l_i h^{l-1}_j`` with ``h^0 = x``.

Network k draws its weights, biases and inputs, in that order, from stream
k of the seed, and its backward seeds v from stream ``BACKWARD_STREAM + k``:
how the inputs are cut into blocks changes no draw, only the order of
float64 sums.

Every statistic is first averaged within a network (over its inputs and
units); the networks are independent replicates, so each reported estimate is
the mean over networks and its ``_se`` the standard deviation across networks
over sqrt(n_networks) (delta method for ratios and products).

Performance
-----------
The work is GEMM-bound: one BLAS GEMM per layer forward (``z = h W^T``) and
one backward (``g = delta W``), with every elementwise statistic fused into a
single pass over each GEMM's output. Networks run in parallel (``prange``),
BLAS single-threaded inside; inputs are processed in blocks of at most 512.
Activations flow through two block-sized buffers (each GEMM writes into
memory that is already in cache), and of every layer only what the backward
pass reads is kept: one byte of mask per unit for ReLU, phi'(z) for generic
activations, nothing for linear. That store stays within ``memory_budget``
bytes per network; a network in flight holds its weights besides (sum
n_{l-1} n_l values: 168 MB at width 1024, depth 20, float64), so the peak is
about threads x (weights + memory_budget).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from numba import prange

from mcbench._core.checks import check_dtype, check_positive_int
from mcbench._core.jit import REDUCE, compile_for, jit
from mcbench._core.memory import allocate, check_done, format_bytes
from mcbench._core.rng import chunk_state, fill_normals, fill_uniforms, stream_key
from mcbench._core.threads import numba_threads, single_threaded_blas
from mcbench._signals import checkpoint
from mcbench.config import BLOCK_ROWS, DEFAULT_MEMORY_BUDGET, MAX_SAMPLES, MIN_BLOCK_ROWS, MLP_WAVE_FLOPS
from mcbench.mc._long_runs import warn_if_long
from mcbench.spec import MLPSpec

# Per-layer accumulator slots (float64 sums within one network).
(S_Z, S_Z2, S_PHI2, S_DPHI2, S_DELTA2, S_WGRAD, S_R, S_R2,
 S_A, S_B, S_AA, S_BB, S_AB, S_MS2, N_STATS) = range(15)

_KIND_GENERIC, _KIND_RELU, _KIND_LINEAR = 0, 1, 2

#: Network k's backward seeds v come from stream BACKWARD_STREAM + k (far above any network index).
BACKWARD_STREAM = 1 << 40



# The pointwise passes below reduce with mcbench._core.jit.REDUCE (reassociation and FMA, so that
# LLVM vectorises them); tests/test_mc_mlp.py checks every statistic against a plain-numpy replay.


@jit(fastmath=REDUCE)
def _forward_pointwise(z, bias, phi, dphi, a, b, kind, factor_out, xnorm2, hn2_out, st):
    """In place z <- phi(z + bias), accumulating the layer's forward statistics.

    phi and dphi are C function pointers (see Activation.kernel_functions);
    ReLU and linear are inlined instead, as their call would cost more than
    their arithmetic. factor_out receives what the backward pass needs of
    this layer: the mask z + bias > 0 (uint8) for ReLU, phi'(z + bias) for
    generic activations, nothing for linear. xnorm2 holds ||x_s||^2; hn2_out
    receives ||h^l_s||^2 (for the norm ratio, and for the next layer's
    weight-gradient term).
    """
    rows, n = z.shape
    s_z = 0.0
    s_z2 = 0.0
    s_phi2 = 0.0
    s_dphi2 = 0.0
    s_r = 0.0
    s_r2 = 0.0
    s_ms2 = 0.0
    for s in range(rows):
        row_z = 0.0
        row_z2 = 0.0
        row_h2 = 0.0
        row_d2 = 0.0
        if kind == _KIND_RELU:
            for i in range(n):
                v = np.float64(z[s, i]) + bias[i]
                h = max(v, 0.0)
                on = v > 0
                row_z += v
                row_z2 += v * v
                row_h2 += h * h
                row_d2 += 1.0 if on else 0.0
                z[s, i] = h
                factor_out[s, i] = on
        elif kind == _KIND_LINEAR:
            for i in range(n):
                v = np.float64(z[s, i]) + bias[i]
                h = a * v + b
                row_z += v
                row_z2 += v * v
                row_h2 += h * h
                z[s, i] = h
            row_d2 = n * a * a
        else:
            for i in range(n):
                v = np.float64(z[s, i]) + bias[i]
                h = phi(v, a, b)
                g = dphi(v, a, b)
                row_z += v
                row_z2 += v * v
                row_h2 += h * h
                row_d2 += g * g
                z[s, i] = h
                factor_out[s, i] = g
        s_z += row_z
        s_z2 += row_z2
        s_ms2 += (row_z2 / n) * (row_z2 / n)  # the input's layer mean square, squared (for ms_var)
        s_phi2 += row_h2
        s_dphi2 += row_d2
        hn2_out[s] = row_h2
        # input_var = 0 makes ||x|| = 0: the ratio is undefined (NaN), not a division error in a worker
        r = row_h2 / xnorm2[s] if xnorm2[s] > 0.0 else np.nan
        s_r += r
        s_r2 += r * r
    st[S_Z] += s_z
    st[S_Z2] += s_z2
    st[S_PHI2] += s_phi2
    st[S_DPHI2] += s_dphi2
    st[S_R] += s_r
    st[S_R2] += s_r2
    st[S_MS2] += s_ms2


@jit(fastmath=REDUCE)
def _pair_statistics(z_pre, bias, st):
    """Cross-moments of the pre-activations of input pairs (rows 2p, 2p + 1)."""
    rows, n = z_pre.shape
    s_a = 0.0
    s_b = 0.0
    s_aa = 0.0
    s_bb = 0.0
    s_ab = 0.0
    for p in range(rows // 2):
        for i in range(n):
            za = np.float64(z_pre[2 * p, i]) + bias[i]
            zb = np.float64(z_pre[2 * p + 1, i]) + bias[i]
            s_a += za
            s_b += zb
            s_aa += za * za
            s_bb += zb * zb
            s_ab += za * zb
    st[S_A] += s_a
    st[S_B] += s_b
    st[S_AA] += s_aa
    st[S_BB] += s_bb
    st[S_AB] += s_ab


@jit(fastmath=REDUCE)
def _backward_pointwise(delta, factor, kind, a, hn2_prev, st):
    """In place delta <- delta * phi'(z^l), and layer l's backward statistics in the same pass.

    phi'(z^l) is the stored mask (``factor``, uint8) for ReLU, the constant a
    for linear and the stored phi'(z^l) (``factor``) otherwise. Accumulates
    sum delta^2 (for E[(delta^l)^2]) and the per-sample weight-gradient
    numerator sum_s ||delta_s||^2 ||h^{l-1}_s||^2 (hn2_prev holds
    ||h^{l-1}_s||^2). delta^L = v needs no derivative: call with the linear
    kind and a = 1 (exact).
    """
    rows, n = delta.shape
    zero = delta.dtype.type(0)  # same-typed select: vectorises; a branch on the mask mispredicts half the time
    s_d2 = 0.0
    s_w = 0.0
    for s in range(rows):
        row = 0.0
        if kind == _KIND_RELU:
            for i in range(n):
                d = delta[s, i] if factor[s, i] else zero
                delta[s, i] = d
                row += np.float64(d) * d
        elif kind == _KIND_LINEAR:
            for i in range(n):
                delta[s, i] *= a
                d = np.float64(delta[s, i])
                row += d * d
        else:
            for i in range(n):
                delta[s, i] *= factor[s, i]
                d = np.float64(delta[s, i])
                row += d * d
        s_d2 += row
        s_w += row * hn2_prev[s]
    st[S_DELTA2] += s_d2
    st[S_WGRAD] += s_w


@jit
def _draw_weights(state, wl, std, uniform):
    """One layer's weights (flat, in place) from the stream: N(0, std^2), or uniform on +-sqrt(3) std."""
    if uniform:
        fill_uniforms(state, wl)
        for i in range(wl.size):
            wl[i] = (2.0 * wl[i] - 1.0) * std * np.sqrt(3.0)
    else:
        fill_normals(state, wl)
        for i in range(wl.size):
            wl[i] *= std


@jit
def _draw_inputs(state, x, input_std, pair_c, xnorm2):
    """Inputs x (rows, n0) ~ N(0, input_std^2 I) in place, and xnorm2[s] = ||x_s||^2 (s < rows).

    Unless pair_c is NaN, rows 2p and 2p + 1 are a pair with correlation pair_c.
    """
    rows, n0 = x.shape
    fill_normals(state, x)
    if pair_c == pair_c:
        ortho = np.sqrt(1.0 - pair_c * pair_c)
        for p in range(rows // 2):
            for j in range(n0):
                x[2 * p + 1, j] = pair_c * x[2 * p, j] + ortho * x[2 * p + 1, j]
    for s in range(rows):
        acc = 0.0
        for j in range(n0):
            x[s, j] *= input_std
            acc += np.float64(x[s, j]) * x[s, j]
        xnorm2[s] = acc


@jit
def _rows(flat, rows, offset, n):
    """The (rows, n) block at ``rows * offset`` of a flat per-layer store (offsets count units, not values)."""
    return flat[rows * offset:rows * (offset + n)].reshape(rows, n)


# The kernel's phases (bit flags). The kernel runs them all; ``mcbench profile`` runs one at a time
# through the same function, so what it times is the kernel's own code.
PHASE_RNG = 1  # weights, biases, inputs and the backward seeds v
PHASE_FORWARD_GEMM = 2  # z^l = h^{l-1} W^T, one BLAS GEMM per layer and input block
PHASE_FORWARD_POINTWISE = 4  # h^l = phi(z^l + b^l) and the layer's forward statistics (pairs included)
PHASE_BACKWARD_GEMM = 8  # g = delta^{l+1} W^{l+1}
PHASE_BACKWARD_POINTWISE = 16  # delta^l = phi'(z^l) g and the layer's backward statistics
ALL_PHASES = 31
#: Phase names as reports show them (the two pointwise passes together).
PHASES = {"RNG": PHASE_RNG, "forward GEMM": PHASE_FORWARD_GEMM,
          "pointwise+stats": PHASE_FORWARD_POINTWISE | PHASE_BACKWARD_POINTWISE,
          "backward GEMM": PHASE_BACKWARD_GEMM}


@jit
def _draw_network(key, net, state, v_state, weights, biases, w_off, b_off, w_std, uniform, bias_kind, bias_value):
    """Network ``net``'s streams (``state``: weights, biases, then inputs; ``v_state``: v) and its parameters."""
    chunk_state(key, net, state)
    chunk_state(key, BACKWARD_STREAM + net, v_state)
    for l in range(w_off.shape[0] - 1):
        _draw_weights(state, weights[w_off[l]:w_off[l + 1]], w_std[l], uniform)
        bl = biases[b_off[l]:b_off[l + 1]]
        if bias_kind == 1:
            _draw_weights(state, bl, bias_value, False)
        elif bias_kind == 2:
            bl[:] = bias_value


@jit
def _propagate(phases, state, v_state, weights, biases, w_off, b_off, f_off, widths, in_start, in_stop, block,
               input_std, pair_c, phi, dphi, a, b, kind, factors, buf_a, buf_b, hn2, stats):
    """Inputs ``in_start .. in_stop - 1`` of one network through it, forward and backward, in blocks.

    ``stats`` is (depth + 1, N_STATS): row 0 holds sum ||x||^2 (in S_PHI2),
    row l the sums of layer l. The inputs continue ``state``'s stream and v
    ``v_state``'s, so cutting the inputs into calls changes no draw.

    Activations live in two block-sized buffers, each GEMM writing into the
    one its input is not in, so every GEMM writes to memory that is already
    in cache. Per layer only what the backward pass needs is kept
    (``factors``' dtype): the ReLU mask as one byte, phi'(z) for generic
    activations, nothing for linear (the buffer is then one layer of scratch).
    """
    depth = widths.shape[0] - 1
    for start in range(in_start, in_stop, block):
        rows = min(block, in_stop - start)
        h_prev = _rows(buf_a, rows, 0, widths[0])
        if phases & PHASE_RNG:
            _draw_inputs(state, h_prev, input_std, pair_c, hn2[0])
            for s in range(rows):
                stats[0, S_PHI2] += hn2[0, s]

        for l in range(depth):
            n_in = widths[l]
            n_out = widths[l + 1]
            w = weights[w_off[l]:w_off[l + 1]].reshape(n_out, n_in)
            z = _rows(buf_b if l % 2 == 0 else buf_a, rows, 0, n_out)
            if phases & PHASE_FORWARD_GEMM:
                np.dot(h_prev, w.T, z)
            if phases & PHASE_FORWARD_POINTWISE:
                bl = biases[b_off[l]:b_off[l + 1]]
                if pair_c == pair_c:
                    _pair_statistics(z, bl, stats[l + 1])
                _forward_pointwise(z, bl, phi, dphi, a, b, kind, _rows(factors, rows, f_off[l], n_out),
                                   hn2[0], hn2[l + 1], stats[l + 1])
            h_prev = z

        # Backward, in the same two buffers (no activation is needed any more): delta^L = v, then
        # delta^l = phi'(z^l) * (delta^{l+1} W^{l+1}); each layer's statistics are taken in the pass
        # that applies phi'.
        delta = _rows(buf_a, rows, 0, widths[depth])
        if phases & PHASE_RNG:
            fill_normals(v_state, delta)
        if phases & PHASE_BACKWARD_POINTWISE:
            _backward_pointwise(delta, factors[:0].reshape(0, 0), _KIND_LINEAR, 1.0, hn2[depth - 1], stats[depth])
        for l in range(depth - 1, 0, -1):
            n_in = widths[l]
            n_out = widths[l + 1]
            w = weights[w_off[l]:w_off[l + 1]].reshape(n_out, n_in)
            g = _rows(buf_b if (depth - l) % 2 == 1 else buf_a, rows, 0, n_in)
            if phases & PHASE_BACKWARD_GEMM:
                np.dot(delta, w, g)
            if phases & PHASE_BACKWARD_POINTWISE:
                _backward_pointwise(g, _rows(factors, rows, f_off[l - 1], n_in), kind, a, hn2[l - 1], stats[l])
            delta = g


@jit(parallel=True)
def _mlp_wave(phases, key, net_first, net_stop, in_start, in_stop, draw, widths, w_off, b_off, f_off, w_std,
              uniform, bias_kind, bias_value, input_std, pair_c, phi, dphi, a, b, kind, block,
              weights, biases, factors, buf_a, buf_b, hn2, states, v_states, done, stats):
    """Networks ``net_first .. net_stop - 1`` dealt round-robin to the slots, inputs ``in_start .. in_stop - 1`` each.

    Slot t's workspace is row t of ``weights``, ``biases``, ``factors``,
    ``buf_a``, ``buf_b``, ``hn2``, ``states`` and ``v_states``, allocated by
    the caller: nothing is allocated here (see :mod:`mcbench._core.memory`).
    With ``draw`` each network's parameters are drawn first; without it (a
    later wave of inputs, at most one network per slot) the slot's network
    continues from its workspace. ``done[t]`` marks slot t finished. One
    parallel region per call: every region costs a barrier, and on a shared
    machine a spinning OpenMP barrier can cost a scheduler time slice.
    """
    slots = weights.shape[0]
    for t in prange(slots):
        for net in range(net_first + t, net_stop, slots):
            if draw and phases & PHASE_RNG:
                _draw_network(key, net, states[t], v_states[t], weights[t], biases[t], w_off, b_off, w_std,
                              uniform, bias_kind, bias_value)
            _propagate(phases, states[t], v_states[t], weights[t], biases[t], w_off, b_off, f_off, widths,
                       in_start, in_stop, block, input_std, pair_c, phi, dphi, a, b, kind, factors[t], buf_a[t],
                       buf_b[t], hn2[t], stats[net])
        done[t] = 1


# ------------------------------------------------------------ Python API ---

_BIAS_KIND = {"zero": 0, "normal": 1, "constant": 2}


def _kind_code(activation) -> int:
    return {"relu": _KIND_RELU, "linear": _KIND_LINEAR}.get(activation.kind, _KIND_GENERIC)


def _factor_dtype(kind: int, dtype) -> np.dtype:
    """Dtype of the per-layer values the backward pass reads: a one-byte mask for ReLU, phi'(z) otherwise."""
    return np.dtype(dtype) if kind == _KIND_GENERIC else np.dtype(np.uint8)


def block_size(spec: MLPSpec, n_inputs: int, dtype, memory_budget: int, pairs: bool) -> int:
    """Inputs per block: at most ``BLOCK_ROWS``, and one network's stored activations within ``memory_budget`` bytes.

    Per input, a network holds two activation rows of the widest layer, what
    the backward pass needs of every layer (a byte per unit for ReLU,
    ``dtype``'s size for generic activations, one layer of scratch bytes for
    linear) and one float64 squared norm per layer.

    Raises ValueError when ``memory_budget`` cannot hold ``MIN_BLOCK_ROWS``
    inputs. Never depends on the thread count: the block fixes the order of the
    float64 sums, so a thread-dependent block would break "same seed, same
    numbers".
    """
    widths = np.asarray(spec.widths)
    kind = _kind_code(spec.activation)
    per_unit = _factor_dtype(kind, dtype).itemsize
    stored = per_unit * (widths[1:].sum() if kind != _KIND_LINEAR else widths.max())
    per_row = int(2 * np.dtype(dtype).itemsize * widths.max() + stored + 8 * len(widths))
    if memory_budget < MIN_BLOCK_ROWS * per_row:  # the block would silently overrun the budget
        raise ValueError(f"memory_budget={memory_budget} bytes cannot hold the smallest block of this spec: "
                         f"{MIN_BLOCK_ROWS} inputs x {per_row} bytes = {MIN_BLOCK_ROWS * per_row} bytes")
    block = int(min(n_inputs, BLOCK_ROWS, memory_budget // per_row))
    return block - (block % 2) if pairs else block  # n_inputs is even with pairs, so block >= 2


def _workspace_layout(spec: MLPSpec, n_networks: int, block: int, slots: int, dtype):
    """``(layout, bytes per slot, bytes of one network's weights)`` of an :class:`MLPRun`'s workspace."""
    widths = np.asarray(spec.widths, dtype=np.int64)
    depth = spec.depth
    kind = _kind_code(spec.activation)
    stored = kind != _KIND_LINEAR
    max_w = int(widths.max())
    n_weights, n_units = int(np.sum(widths[:-1] * widths[1:])), int(widths[1:].sum())
    per_network = {  # one network in flight per slot
        "weights": ((n_weights,), dtype), "biases": ((n_units,), np.float64),
        "factors": ((block * (n_units if stored else max_w),), _factor_dtype(kind, dtype)),
        "buf_a": ((block * max_w,), dtype), "buf_b": ((block * max_w,), dtype),
        "hn2": ((depth + 1, block), np.float64), "states": ((4,), np.uint64), "v_states": ((4,), np.uint64),
    }
    per_slot = sum(int(np.prod(shape)) * np.dtype(dt).itemsize for shape, dt in per_network.values())
    layout = {name: ((slots, *shape), dt) for name, (shape, dt) in per_network.items()}
    layout |= {"done": ((slots,), np.uint8), "stats": ((n_networks, depth + 1, N_STATS), np.float64)}
    return layout, per_slot, n_weights * np.dtype(dtype).itemsize


def workspace_bytes(spec: MLPSpec, n_networks: int, n_inputs: int, threads: int, dtype=np.float64,
                    pair_correlation=None, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> dict:
    """The memory :func:`mlp_propagation` will allocate, without allocating it.

    Each of ``min(threads, n_networks)`` networks in flight holds its weights
    (sum n_{l-1} n_l values) and an input block's activation buffers and
    backward store (within ``memory_budget``), so the total is about
    threads x (weights + memory_budget); this is that figure exactly, as
    :class:`MLPRun` lays it out.

    Returns
    -------
    dict
        ``total`` (bytes), ``per_network`` (bytes held by each network in
        flight), ``weights`` (bytes of one network's weights), ``slots``
        (networks in flight) and ``block`` (inputs per block).

    Examples
    --------
    >>> import mcbench
    >>> from mcbench.mc.mlp import workspace_bytes
    >>> est = workspace_bytes(mcbench.MLPSpec([4096] * 51, "tanh", "xavier_normal"), 32, 128, threads=2)
    >>> est["slots"], round(est["weights"] / 2**30, 2), round(est["total"] / 2**30, 1)   # 50 x 4096^2 doubles
    (2, 6.25, 12.8)
    """
    dt = check_dtype(dtype)
    slots = min(check_positive_int(threads, "threads"), check_positive_int(n_networks, "n_networks"))
    block = block_size(spec, n_inputs, dt, memory_budget, pair_correlation is not None)
    layout, per_slot, weights = _workspace_layout(spec, n_networks, block, slots, dt)
    total = sum(int(np.prod(shape, dtype=np.float64)) * np.dtype(d).itemsize for shape, d in layout.values())
    return {"total": total, "per_network": per_slot, "weights": weights, "slots": slots, "block": block}


def _mean_se(x):
    """Mean over networks (axis 0) and its standard error sd / sqrt(K)."""
    k = x.shape[0]
    se = x.std(axis=0, ddof=1) / np.sqrt(k) if k > 1 else np.full(x.shape[1:], np.nan)
    return x.mean(axis=0), se


def mlp_flops(widths, n_networks: int, n_inputs: int, executed: bool = False) -> float:
    """Flops of one Monte Carlo run's GEMMs.

    Default: the MLP benchmark's convention, 4 n_{l-1} n_l per input, layer and
    network (a forward and a backward data-gradient GEMM per layer).
    ``executed=True``: what the kernel runs, which skips the first layer's
    backward GEMM (nothing needs delta^0): 2 n_0 n_1 per input fewer.
    """
    w = np.asarray(widths, dtype=float)
    credited = 4.0 * n_networks * n_inputs * float(np.sum(w[:-1] * w[1:]))
    return credited - 2.0 * n_networks * n_inputs * w[0] * w[1] if executed else credited


def summarize(stats, spec: MLPSpec, n_inputs: int, pairs: bool) -> pd.DataFrame:
    """Turn per-network sums (K, L + 1, N_STATS) into the per-layer estimate table.

    Means of per-network averages, with standard errors across networks;
    nonlinear functions of means (variance, products, correlation) get
    delta-method standard errors from their per-network linearisations.
    """
    widths = np.asarray(spec.widths, dtype=float)
    fan_in, fan_out = widths[:-1], widths[1:]
    elems = n_inputs * fan_out  # entries of z^l per network
    st = stats[:, 1:, :]
    x2 = stats[:, 0, S_PHI2] / (n_inputs * widths[0])

    cols = {
        "layer": np.arange(1, spec.depth + 1),
        "fan_in": fan_in.astype(int),
        "fan_out": fan_out.astype(int),
        "weight_var": spec.layer_weight_vars(),
    }

    def put(name, per_net):
        cols[name], cols[name + "_se"] = _mean_se(per_net)

    m_k = st[:, :, S_Z] / elems
    e2_k = st[:, :, S_Z2] / elems
    z_mean = m_k.mean(axis=0)
    put("z_mean", m_k)
    cols["q"] = e2_k.mean(axis=0) - z_mean**2
    cols["q_se"] = _mean_se(e2_k - 2 * z_mean * m_k)[1]
    # ms_var: the variance over networks and inputs of m^l = (1/n_l) sum_i (z^l_i)^2, the input's layer
    # mean square (e2_k is its mean over a network's inputs, ms2_k the mean of its square).
    ms2_k = st[:, :, S_MS2] / n_inputs
    e2 = e2_k.mean(axis=0)
    cols["ms_var"] = ms2_k.mean(axis=0) - e2**2
    cols["ms_var_se"] = _mean_se(ms2_k - 2 * e2 * e2_k)[1]
    phi2_k = st[:, :, S_PHI2] / elems
    put("phi2", phi2_k)
    put("dphi2", st[:, :, S_DPHI2] / elems)
    qt_k = st[:, :, S_DELTA2] / elems
    put("qtilde", qt_k)
    put("wgrad_ms", st[:, :, S_WGRAD] / (n_inputs * fan_out * fan_in))
    prev_k = np.concatenate([x2[:, None], phi2_k[:, :-1]], axis=1)  # E[phi(z^{l-1})^2], h^0 = x
    qt, prev = qt_k.mean(axis=0), prev_k.mean(axis=0)
    cols["wgrad_factorized"] = qt * prev
    cols["wgrad_factorized_se"] = _mean_se(qt_k * prev + qt * prev_k)[1]
    # log(qtilde^1 / qtilde^L), the gradient's growth through the net (the sweep's phase diagram): a
    # delta-method SE from each network's linearisation, so the layers' correlation is accounted for.
    log_ratio = float(np.log(qt[0] / qt[-1]))
    log_ratio_se = float(_mean_se(qt_k[:, 0] / qt[0] - qt_k[:, -1] / qt[-1])[1])
    put("norm_ratio_mean", st[:, :, S_R] / n_inputs)
    put("norm_ratio_m2", st[:, :, S_R2] / n_inputs)
    if pairs:
        n_pair = (n_inputs // 2) * fan_out
        sa, sb = st[:, :, S_A] / n_pair, st[:, :, S_B] / n_pair
        centre = 0.5 * (sa + sb).mean(axis=0)  # centre on the pooled mean (the bias)
        cab = st[:, :, S_AB] / n_pair - centre * (sa + sb) + centre**2
        caa = st[:, :, S_AA] / n_pair - 2 * centre * sa + centre**2
        cbb = st[:, :, S_BB] / n_pair - 2 * centre * sb + centre**2
        cab_m, caa_m, cbb_m = cab.mean(0), caa.mean(0), cbb.mean(0)
        c = cab_m / np.sqrt(caa_m * cbb_m)
        cols["c"] = c
        cols["c_se"] = _mean_se(cab / np.sqrt(caa_m * cbb_m) - 0.5 * c * (caa / caa_m + cbb / cbb_m))[1]
    frame = pd.DataFrame(cols)
    frame.attrs.update(log_grad_ratio=log_ratio, log_grad_ratio_se=log_ratio_se)
    return frame


def mlp_propagation(spec: MLPSpec, n_networks: int, n_inputs: int, seed=0, dtype=np.float64,
                    pair_correlation=None, *, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                    threads=None) -> pd.DataFrame:
    """Per-layer forward/backward statistics of random MLPs, by Monte Carlo.

    Model: ``n_networks`` independent networks with fresh weights (and
    biases), each fed ``n_inputs`` inputs x ~ N(0, input_var I); loss
    J = sum_i v_i z^L_i with v ~ N(0, I) independent of everything else, so
    delta^L = v. See the module docstring for the recursions.

    Parameters
    ----------
    spec : MLPSpec
    n_networks : int
        Independent networks (the replicates behind every standard error); >= 2.
    n_inputs : int
        Inputs per network; with ``pair_correlation`` it must be even (they
        go through as n_inputs / 2 correlated pairs).
    seed : int or numpy.random.SeedSequence
        Network k draws from the streams (seed, k) and (seed,
        ``BACKWARD_STREAM`` + k): same seed, same numbers, for any thread
        count, and the same draws for any ``memory_budget``.
    dtype : float32 or float64
        Dtype of weights, activations and GEMMs (statistics accumulate in float64).
    pair_correlation : float in [-1, 1], optional
        Input pairs with this correlation; adds the column ``c``.
    memory_budget : int
        Bytes of activation buffers and per-layer backward store (the ReLU
        mask or phi'(z)) per network in flight (default 128 MiB);
        each thread holds one network at a time, so the peak is about
        threads x (weights + memory_budget). It bounds the input block (at
        most ``BLOCK_ROWS`` = 512 inputs), which changes speed, not the
        draws: results differ only in the round-off of the float64 sums.
    threads : int, optional
        Numba threads (BLAS is pinned to 1 thread during the call).

    Returns
    -------
    pandas.DataFrame, one row per layer l = 1..L
        ``layer, fan_in, fan_out, weight_var``, and each estimate with an
        ``_se`` column: ``z_mean``, ``q`` (variance of z^l), ``ms_var`` (variance over networks
        and inputs of the layer mean square (1/n_l) sum_i (z^l_i)^2), ``phi2``
        (E[phi(z^l)^2]), ``dphi2`` (E[phi'(z^l)^2]), ``qtilde``
        (E[(delta^l)^2]), ``wgrad_ms`` (E[(dJ/dW^l_ij)^2] per sample),
        ``wgrad_factorized`` (E[(delta^l)^2] E[phi(z^{l-1})^2], seed 002's
        Theorem 1.1), ``norm_ratio_mean``/``norm_ratio_m2`` (first and second
        moment of ||h^l||^2 / ||h^0||^2), and ``c`` with ``pair_correlation``.
        ``attrs`` holds ``log_grad_ratio`` log(qtilde^1 / qtilde^L) and its
        delta-method ``log_grad_ratio_se``, n_networks, n_inputs, dof (= n_networks - 1), seconds,
        compile_seconds, gflop, threads, block and dtype. ``gflop`` counts
        4 B n_{l-1} n_l per layer and network (forward + backward data
        gradient, the benchmark's convention); the kernel skips the first
        layer's backward GEMM, which no statistic needs, so it executes
        2 B n_0 n_1 fewer flops than that.

    Examples
    --------
    >>> import mcbench
    >>> from mcbench import mc
    >>> spec = mcbench.MLPSpec([8] * 4, "relu", "he_normal")
    >>> df = mc.mlp_propagation(spec, n_networks=4, n_inputs=16, seed=0)
    >>> df.shape
    (3, 24)
    >>> list(df.columns[:8])
    ['layer', 'fan_in', 'fan_out', 'weight_var', 'z_mean', 'z_mean_se', 'q', 'q_se']
    >>> df.attrs["n_networks"], df.attrs["dof"]
    (4, 3)
    >>> df.equals(mc.mlp_propagation(spec, n_networks=4, n_inputs=16, seed=0))   # deterministic
    True

    Against the mean-field theory (q = 2 at every layer for He ReLU):

    >>> df = mc.mlp_propagation(spec, n_networks=64, n_inputs=32, seed=0)
    >>> th = mcbench.theory.mlp_propagation(spec)
    >>> bool(((df["q"] - th["q"]).abs() < 5 * df["q_se"]).all())
    True
    """
    if not isinstance(spec, MLPSpec):
        raise TypeError(f"spec must be an MLPSpec, got {type(spec).__name__}")
    n_networks = check_positive_int(n_networks, "n_networks", minimum=2,
                                    why="the networks are the replicates behind every standard error")
    n_inputs = check_positive_int(n_inputs, "n_inputs")
    dt = check_dtype(dtype)
    pairs = pair_correlation is not None
    if pairs:
        c0 = float(pair_correlation)
        if not -1.0 <= c0 <= 1.0:
            raise ValueError(f"pair_correlation must lie in [-1, 1], got {pair_correlation!r}")
        if n_inputs % 2:
            raise ValueError(f"n_inputs must be even with pair_correlation (pairs of inputs), got {n_inputs}")
    else:
        c0 = np.nan
    memory_budget = check_positive_int(memory_budget, "memory_budget")
    widest = max(spec.widths)
    if n_inputs * widest > MAX_SAMPLES or n_networks * (spec.depth + 1) * N_STATS > MAX_SAMPLES:
        raise ValueError(f"n_inputs x the widest layer must be at most {MAX_SAMPLES:.3g} (2**53: the statistics "
                         f"are float64 sums), got n_inputs={n_inputs:.3g} x {widest}")
    block = block_size(spec, n_inputs, dt, memory_budget, pairs)
    key = stream_key(seed)
    with numba_threads(threads) as n_threads, single_threaded_blas():
        run = MLPRun(spec, n_networks, n_inputs, key, dt, c0, block, n_threads)
        compile_s = run.compile()
        start = time.perf_counter()
        run.run(eta_label=f"mlp_propagation({spec.label()}, n_networks={n_networks}, n_inputs={n_inputs})")
        seconds = time.perf_counter() - start
    frame = summarize(run.stats, spec, n_inputs, pairs)
    frame.attrs.update(
        spec=spec.label(), n_networks=n_networks, n_inputs=n_inputs, dof=n_networks - 1,
        seconds=seconds, compile_seconds=compile_s, threads=n_threads, block=block, dtype=dt.name,
        gflop=mlp_flops(spec.widths, n_networks, n_inputs) / 1e9,
    )
    return frame


class MLPRun:
    """One ``mlp_propagation`` problem, its workspace allocated: run it whole, or one phase at a time.

    Each of ``slots = min(threads, n_networks)`` slots holds one network in
    flight: its weights (sum n_{l-1} n_l values), biases, two activation
    buffers and the per-layer backward store of one input block (within
    ``memory_budget``, which sets the block). Work is cut into waves of about
    ``MLP_WAVE_FLOPS`` per slot (whole networks where they are that small,
    else input blocks of one network per slot), with a stop-request
    checkpoint between waves; the cut changes no draw and no summation order.
    """

    def __init__(self, spec: MLPSpec, n_networks: int, n_inputs: int, key, dtype, pair_c: float, block: int,
                 threads: int):
        act = spec.activation
        self.kind = _kind_code(act)
        self.spec, self.n_networks, self.n_inputs, self.block = spec, n_networks, n_inputs, block
        widths = np.asarray(spec.widths, dtype=np.int64)
        depth = spec.depth
        w_off = np.zeros(depth + 1, np.int64)
        b_off = np.zeros(depth + 1, np.int64)  # layer l + 1's biases and stored factors start at unit b_off[l]
        for l in range(depth):
            w_off[l + 1] = w_off[l] + widths[l] * widths[l + 1]
            b_off[l + 1] = b_off[l] + widths[l + 1]
        stored = self.kind != _KIND_LINEAR
        f_off = b_off if stored else np.zeros(depth + 1, np.int64)
        self.slots = slots = min(threads, n_networks)
        layout, per_slot, weight_bytes = _workspace_layout(spec, n_networks, block, slots, dtype)
        self.ws = allocate(layout, "mlp_propagation",
                           f"each of the {slots} networks in flight (one per thread) holds {format_bytes(per_slot)}, "
                           f"of which {format_bytes(weight_bytes)} are its weights: use fewer threads, "
                           "a smaller memory_budget (it sets the input block), or narrower layers")
        self.stats = self.ws["stats"]
        bias_kind = _BIAS_KIND[spec.bias[0]]
        self._fixed = (widths, w_off, b_off, f_off, np.sqrt(spec.layer_weight_vars()),
                       spec.weight_distribution() == "uniform", bias_kind,
                       float(np.sqrt(spec.bias[1])) if bias_kind == 1 else float(spec.bias[1]),
                       float(np.sqrt(spec.input_var)), pair_c, *act.kernel_functions(), act.a, act.b, self.kind,
                       block)
        self.key = key
        self.waves = self._plan(spec.widths)

    def _plan(self, widths) -> list[tuple[int, int, int, int, bool]]:
        """The calls (net_first, net_stop, in_start, in_stop, draw): about ``MLP_WAVE_FLOPS`` per slot each."""
        per_network = mlp_flops(widths, 1, self.n_inputs)
        rounds = -(-self.n_networks // self.slots)
        if per_network * rounds <= MLP_WAVE_FLOPS:  # small: one call, one parallel region
            return [(0, self.n_networks, 0, self.n_inputs, True)]
        if per_network <= MLP_WAVE_FLOPS:  # whole networks, several rounds of them per call
            step = self.slots * max(1, int(MLP_WAVE_FLOPS // per_network))
            return [(f, min(f + step, self.n_networks), 0, self.n_inputs, True)
                    for f in range(0, self.n_networks, step)]
        # one network per slot, its inputs in waves of whole blocks (so the blocks, and the pairs, are unchanged)
        blocks = max(1, int(MLP_WAVE_FLOPS // mlp_flops(widths, 1, self.block)))
        span = blocks * self.block
        return [(f, min(f + self.slots, self.n_networks), i, min(i + span, self.n_inputs), i == 0)
                for f in range(0, self.n_networks, self.slots) for i in range(0, self.n_inputs, span)]

    def _args(self, wave, phases):
        ws = self.ws
        return (phases, self.key, *wave, *self._fixed, ws["weights"], ws["biases"], ws["factors"], ws["buf_a"],
                ws["buf_b"], ws["hn2"], ws["states"], ws["v_states"], ws["done"], ws["stats"])

    def compile(self) -> float:
        """Compile (or load from the cache) the wave kernel; seconds spent, 0 if already in memory."""
        return compile_for(_mlp_wave, *self._args(self.waves[0], ALL_PHASES))

    def run(self, phases: int = ALL_PHASES, eta_label: str | None = None) -> None:
        """Every wave with ``phases`` (bit flags), the statistics reset first; stop requests honoured between waves.

        With ``eta_label``, a run projected to last longer than
        ``LONG_RUN_SECONDS`` says so (a RuntimeWarning) after its first wave.
        """
        self.stats[...] = 0
        start = time.perf_counter()
        for i, wave in enumerate(self.waves):
            checkpoint()
            self.ws["done"][:] = 0
            _mlp_wave(*self._args(wave, phases))
            check_done(self.ws["done"], "mlp_propagation")
            if eta_label and i == 0 and len(self.waves) > 1:
                warn_if_long(eta_label, time.perf_counter() - start, 1 / len(self.waves))
