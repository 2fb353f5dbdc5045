"""Plain-numpy reference implementations that the Numba kernels are checked against.

Deliberately naive: they hold the whole sample in memory and use numpy's own
reductions, so they share no code with the kernels under test.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np


def relu_moments_from_samples(x):
    """Mean and (ddof=1) covariance of max(x, 0) for samples x of shape (n, d)."""
    y = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    return y.mean(axis=0), np.atleast_2d(np.cov(y, rowvar=False))


def assert_within_holm(estimate, theory, stderr, dof=np.inf, alpha=1e-3, label=""):
    """Assert Monte Carlo estimates match theory: Holm-corrected two-sided p > alpha over the family.

    The tests' one rule for "agrees within its standard error" (the same z, p
    and Holm as the validation reports, :mod:`mcbench.validation.stats`), so a bound is
    never a hand-picked multiple of the SE.
    """
    from mcbench.validation.stats import holm, z_and_p

    z, p = z_and_p(np.ravel(estimate), np.ravel(theory), np.ravel(stderr), dof=dof)
    assert np.min(holm(p)) > alpha, f"{label} z = {np.round(z, 2)} (Holm alpha {alpha:g})"


def rel_diff(a, b):
    """Largest |a - b| / |b|; NaN (a formula undefined there) counts as a disagreement (inf)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.abs(a - b) / np.abs(b)
    return float(np.max(np.where(np.isnan(d), np.inf, d)))


def gaussian_cov_se(cov, n):
    """Standard errors (d, d) of sample covariances of n Gaussian draws: Var(S_ij) = (S_ii S_jj + S_ij^2) / n."""
    var = np.diag(cov)
    return np.sqrt((np.outer(var, var) + cov**2) / n)


def random_spd(d, rng, scale=1.0, jitter=0.1):
    a = rng.standard_normal((d, d))
    return scale * (a @ a.T / d + jitter * np.eye(d))


def forward_backward(x, weights, biases, act, v):
    """One plain-numpy forward and backward pass through an MLP.

    h^0 = x, z^l = W^l h^{l-1} + b^l, h^l = phi(z^l); delta^L = v and
    delta^l = phi'(z^l) (W^{l+1})^T delta^{l+1}. ``weights[l]`` is
    (n_out, n_in), one network for every row of x, or (rows, n_out, n_in), a
    network per row. Returns lists hs (h^0..h^L), zs (z^1..z^L) and deltas
    (delta^1..delta^L), each array (rows, width).
    """
    hs, zs = [x], []
    for w, b in zip(weights, biases):
        z = (hs[-1] @ w.T if w.ndim == 2 else np.einsum("koi,ki->ko", w, hs[-1])) + b
        zs.append(z)
        hs.append(act(z))
    deltas = [v]
    for l in range(len(weights) - 1, 0, -1):
        w = weights[l]
        back = deltas[0] @ w if w.ndim == 2 else np.einsum("koi,ko->ki", w, deltas[0])
        deltas.insert(0, act.derivative(zs[l - 1]) * back)
    return hs, zs, deltas


def independent_networks(spec, n_samples, rng):
    """``forward_backward`` for n_samples independent (network, input) pairs, numpy's own RNG.

    Every sample has its own Gaussian weights (variances from the spec, zero
    bias), input x ~ N(0, input_var I) and v ~ N(0, I); drawn in the order x,
    W^1..W^L, v.
    """
    if spec.weight_distribution() != "normal" or spec.bias[0] != "zero":
        raise ValueError(f"independent_networks draws Gaussian weights and no bias; got {spec.label()}")
    widths = spec.widths
    x = rng.standard_normal((n_samples, widths[0])) * math.sqrt(spec.input_var)
    weights = [rng.standard_normal((n_samples, n_out, n_in)) * math.sqrt(var)
               for var, n_in, n_out in zip(spec.layer_weight_vars(), widths[:-1], widths[1:])]
    v = rng.standard_normal((n_samples, widths[-1]))
    return forward_backward(x, weights, [0.0] * spec.depth, spec.activation, v)


def mlp_sums_reference(spec, n_networks, n_inputs, seed, pair_c=None):
    """Plain-numpy forward/backward pass replaying the kernel's random draws, all inputs at once.

    Per network k: stream k of the seed's key gives the weights and biases
    layer by layer, then the inputs; stream ``BACKWARD_STREAM + k`` gives v.
    Returns the per-network, per-layer quantities the kernel summarises:
    dict name -> array (n_networks, L); with ``pair_c``, ``pair_*`` are the
    per-pair averages of z_a, z_b, z_a^2, z_b^2 and z_a z_b.
    """
    from mcbench._core import rng as _rng
    from mcbench.mc.mlp import BACKWARD_STREAM

    key = _rng.stream_key(seed)
    widths = spec.widths
    depth = spec.depth
    std = np.sqrt(spec.layer_weight_vars())
    act = spec.activation
    out = {k: np.zeros((n_networks, depth)) for k in
           ("z_mean", "z2", "ms2", "phi2", "dphi2", "qtilde", "wgrad_ms", "ratio", "ratio2",
            "pair_a", "pair_b", "pair_aa", "pair_bb", "pair_ab")}
    x2 = np.zeros(n_networks)

    def normals(state, shape):
        buf = np.empty(shape)
        _rng.fill_normals(state, buf)
        return buf

    for k in range(n_networks):
        state, v_state = np.empty(4, np.uint64), np.empty(4, np.uint64)
        _rng.chunk_state(key, k, state)
        _rng.chunk_state(key, BACKWARD_STREAM + k, v_state)
        weights, biases = [], []
        for l in range(depth):
            shape = (widths[l + 1], widths[l])
            if spec.weight_distribution() == "uniform":
                u = np.empty(shape)
                _rng.fill_uniforms(state, u)
                weights.append((2 * u - 1) * std[l] * np.sqrt(3))
            else:
                weights.append(normals(state, shape) * std[l])
            kind, value = spec.bias
            if kind == "normal":
                biases.append(normals(state, widths[l + 1]) * np.sqrt(value))
            else:
                biases.append(np.full(widths[l + 1], value if kind == "constant" else 0.0))
        # One block: the kernel draws the same inputs and v however it cuts them into blocks.
        x = normals(state, (n_inputs, widths[0]))
        if pair_c is not None:
            x[1::2] = pair_c * x[0::2] + np.sqrt(1 - pair_c**2) * x[1::2]
        x *= np.sqrt(spec.input_var)
        x2[k] += (x**2).sum()
        v = normals(v_state, (n_inputs, widths[-1]))
        hs, zs, deltas = forward_backward(x, weights, biases, act, v)
        for l, z in enumerate(zs):
            out["z_mean"][k, l] += z.sum()
            out["z2"][k, l] += (z**2).sum()
            out["ms2"][k, l] += ((z**2).mean(1) ** 2).sum()  # each input's layer mean square, squared
            out["phi2"][k, l] += (hs[l + 1] ** 2).sum()
            out["dphi2"][k, l] += (act.derivative(z) ** 2).sum()
            ratio = (hs[l + 1] ** 2).sum(1) / (x**2).sum(1)
            out["ratio"][k, l] += ratio.sum()
            out["ratio2"][k, l] += (ratio**2).sum()
            if pair_c is not None:  # rows 2p and 2p + 1 are the two inputs of pair p
                za, zb = z[0::2], z[1::2]
                out["pair_a"][k, l] += za.sum()
                out["pair_b"][k, l] += zb.sum()
                out["pair_aa"][k, l] += (za * za).sum()
                out["pair_bb"][k, l] += (zb * zb).sum()
                out["pair_ab"][k, l] += (za * zb).sum()
        for l, delta in enumerate(deltas):
            out["qtilde"][k, l] += (delta**2).sum()
            out["wgrad_ms"][k, l] += ((delta**2).sum(1) * (hs[l] ** 2).sum(1)).sum()
    fan_out = np.asarray(widths[1:], float)
    fan_in = np.asarray(widths[:-1], float)
    for name in ("z_mean", "z2", "phi2", "dphi2", "qtilde"):
        out[name] /= n_inputs * fan_out
    out["wgrad_ms"] /= n_inputs * fan_out * fan_in
    for name in ("pair_a", "pair_b", "pair_aa", "pair_bb", "pair_ab"):
        out[name] /= (n_inputs // 2) * fan_out
    out["ratio"] /= n_inputs
    out["ratio2"] /= n_inputs
    out["ms2"] /= n_inputs
    out["x2"] = x2 / (n_inputs * widths[0])
    return out


_PEAK_SCRIPT = """
import resource, sys
{setup}
n = int(sys.argv[2])
{call}  # a small first call: compile or load the cache, page in the code
n = int(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
{call}
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""


def extra_peak_mib(setup: str, call: str, n: int, warm_n: int = 16) -> float:
    """How far one call at size ``n`` raises the peak resident set (MiB, Linux ru_maxrss), in a fresh interpreter.

    ``setup`` runs first, then ``call`` (which uses ``n``) at ``n = warm_n``,
    so compilation and first-touch costs are excluded, then at ``n``, which
    is measured. The warm-up must be small: a first call at full size would
    set the peak itself. Numba allocates outside ``tracemalloc``'s view,
    hence the RSS.
    """
    script = _PEAK_SCRIPT.format(setup=textwrap.dedent(setup), call=call)
    done = subprocess.run([sys.executable, "-c", script, str(n), str(warm_n)], capture_output=True, text=True,
                          check=True, timeout=600)
    return float(done.stdout.split()[-1])


def many_networks(spec, n_networks, rng, pair_c=None, chunk=2000):
    """Plain-numpy Monte Carlo of ``n_networks`` independent networks, one input (or input pair) each.

    Every network draws its own weights (normal or uniform, the spec's
    variances), its own biases (one draw per unit, shared by the pair) and
    one input x ~ N(0, input_var I) (with ``pair_c``, a second input with
    per-coordinate correlation ``pair_c``); the forward pass is a batched
    matmul over networks, ``chunk`` networks at a time.

    Returns
    -------
    dict of name -> ndarray (L,), with ``name + "_se"`` standard errors
        ``q``: E[(z^l_i - beta)^2] (input a, units of z^2); ``ms_var``:
        Var over networks of (1/n_l) sum_i (z^l_i)^2 (input a, units of z^4);
        ``r2``: E[(||h^l||^2 / ||x||^2)^2] (input a); with ``pair_c``, ``c``:
        E[(z_a - beta)(z_b - beta)] / sqrt(E[(z_a - beta)^2] E[(z_b - beta)^2])
        pooled over networks and units (delta-method SE).
    """
    beta, _ = spec.bias_moments()
    widths, depth = spec.widths, spec.depth
    std = np.sqrt(spec.layer_weight_vars())
    uniform = spec.weight_distribution() == "uniform"
    kind, bval = spec.bias
    rows = 1 if pair_c is None else 2
    per = {k: np.empty((n_networks, depth)) for k in ("aa", "ab", "bb", "m", "r")}
    for start in range(0, n_networks, chunk):
        k = min(chunk, n_networks - start)
        x = rng.standard_normal((k, widths[0], rows))
        if pair_c is not None:
            x[:, :, 1] = pair_c * x[:, :, 0] + math.sqrt(1 - pair_c**2) * x[:, :, 1]
        x *= math.sqrt(spec.input_var)
        x2 = (x[:, :, 0] ** 2).sum(1)
        h = x
        for l in range(depth):
            shape = (k, widths[l + 1], widths[l])
            if uniform:
                w = rng.uniform(-1.0, 1.0, shape) * (std[l] * math.sqrt(3.0))
            else:
                w = rng.standard_normal(shape) * std[l]
            if kind == "normal":
                b = rng.standard_normal((k, widths[l + 1], 1)) * math.sqrt(bval)
            else:
                b = np.full((k, widths[l + 1], 1), bval if kind == "constant" else 0.0)
            z = np.matmul(w, h) + b
            h = spec.activation(z)
            za = z[:, :, 0] - beta
            sl = slice(start, start + k)
            per["aa"][sl, l] = (za**2).mean(1)
            per["m"][sl, l] = (z[:, :, 0] ** 2).mean(1)
            per["r"][sl, l] = (h[:, :, 0] ** 2).sum(1) / x2
            if pair_c is not None:
                zb = z[:, :, 1] - beta
                per["ab"][sl, l] = (za * zb).mean(1)
                per["bb"][sl, l] = (zb**2).mean(1)
    N = n_networks
    out = {"q": per["aa"].mean(0), "q_se": per["aa"].std(0, ddof=1) / math.sqrt(N)}
    dm = per["m"] - per["m"].mean(0)
    out["ms_var"] = (dm**2).sum(0) / (N - 1)
    out["ms_var_se"] = np.sqrt(np.maximum((dm**4).mean(0) - ((dm**2).mean(0)) ** 2, 0.0) / N)
    r2 = per["r"] ** 2
    out["r2"], out["r2_se"] = r2.mean(0), r2.std(0, ddof=1) / math.sqrt(N)
    if pair_c is not None:
        A, B, C = per["ab"].mean(0), per["aa"].mean(0), per["bb"].mean(0)
        c = A / np.sqrt(B * C)
        lin = per["ab"] / np.sqrt(B * C) - 0.5 * c * (per["aa"] / B + per["bb"] / C)
        out["c"], out["c_se"] = c, lin.std(0, ddof=1) / math.sqrt(N)
    return out
