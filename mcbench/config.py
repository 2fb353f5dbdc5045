"""Every tunable of mcbench, in one place, with the measurement or argument behind it.

Nothing here imports from the rest of mcbench, so every layer may read it.
Change a value here and every user of it follows: the kernels, the suites,
the timing clients and the CLI's ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass

# ------------------------------------------------------------------ statistics ---

#: Family-wise error rate of a validation run (Holm across every comparison).
DEFAULT_ALPHA = 1e-3
#: Fewest informative samples for a z-test to mean anything (fewer: ``underpowered``).
MIN_EFFECTIVE = 1000
#: A mean-field row whose predicted finite-width shift (NLO minus mean field) exceeds this fraction of
#: its SE would move z by more than half a unit: it is labelled finite-width and not tested (the suites'
#: NLO checks and mcbench check alike). NLO rows are always tested.
FINITE_WIDTH_SE_FRACTION = 0.5
#: Relative tolerance for quantities whose Monte Carlo standard error is 0.
EXACT_RTOL = 1e-9
#: mcbench check defaults: CHECK_NETWORKS networks (the replicates), and as many inputs per network
#: (even, 2..CHECK_MAX_INPUTS) as keep n_networks x n_inputs x sum_l n_{l-1} n_l at CHECK_WORK
#: multiply-adds: 16 networks x 128 inputs of the (784, 512x20, 10) net took 4.1 s of Monte Carlo on
#: one core (2026-12-03), so CHECK_WORK = 1.1e10 is ~4 s, and the NLO theory of that net adds ~8 s.
CHECK_NETWORKS = 32
CHECK_WORK = 1.1e10
CHECK_MAX_INPUTS = 1024
#: --precision: networks of the pilot run that measures the relative SE of q^L (its numbers are discarded).
CHECK_PILOT_NETWORKS = 8
#: mcbench check's time estimate, printed before the Monte Carlo: seconds per flop (mc.mlp.mlp_flops, the
#: 4 n_{l-1} n_l per input convention) on one core. 16 networks x 128 inputs of (784, 512x21, 10), 4.6e10
#: flops, took 3.7-3.8 s with tanh (8.0-8.3e-11 s/flop) and 2.3 s with ReLU (4.9e-11) on one core of the
#: shared 2-core development machine (2026-12-03, load ~3): the generic-activation figure, rounded up.
#: The estimate divides by min(threads, networks) (networks run in parallel) and leaves out the theory.
CHECK_SECONDS_PER_FLOP = 8.5e-11
#: Memory a check needs besides its Monte Carlo workspace (mc.mlp.workspace_bytes): compiled kernels,
#: theory tables, the report's figures. A (784, 512x20, 10) tanh check peaked 100 MB above the RSS after
#: the imports (220 MB), 47 MB of it workspace (2026-12-03); 256 MiB leaves room. A check whose workspace
#: plus this exceeds the available memory (MemAvailable) is refused before it starts.
CHECK_MEMORY_HEADROOM = 256 * 2**20
#: Relative tolerance (against the largest |entry| of cov) for symmetry and for
#: the smallest eigenvalue; round-off from building cov = A @ A.T stays well
#: inside it, while a genuinely indefinite matrix does not.
COV_RTOL = 1e-10

#: critical_sigma_w2 looks for chi_1 = 1 at sigma_w^2 in this bracket (sigma_w^2 = fan-in x Var(W)),
#: scanning it on a log grid with this many points per decade for the first sign change, then
#: refining with brentq. The built-in activations' lines at sigma_b^2 in [0, 1] (normal or constant
#: bias) lie in 0.47-3.7 (selu 0.48-1.5, erf 0.79-2.9, tanh 1-3.7, relu/softplus 2), except sigmoid's
#: (phi' <= 1/4): 103-118, hence the upper end 1e3. A scan step costs ~5 ms for a quadrature activation,
#: so a 20-value line of tanh takes a few seconds; two crossings within a quarter decade would be missed.
CRITICAL_SIGMA_W2_BRACKET = (1e-2, 1e3)
CRITICAL_SCAN_PER_DECADE = 4
#: fit_depth_scale (mcbench.sweeps.figures) fits log|c^l - c*| on l over the layers before the first whose
#: |c^l - c*| <= DEPTH_FIT_MIN_SE x c_se (beyond it the log is noise). In synthetic exponentials with
#: Gaussian noise (tests/studies/depth_fit_calibration.py: 4000 replicates each of 4 settings, 12-20
#: layers, noise 0.4-2% of the initial deviation) the fit's z = (xi - xi_true) / SE had a mean within
#: 0.09 of 0 and an sd within 0.03 of 1 at 3, 4 and 5 SE alike; 3 keeps the most layers.
DEPTH_FIT_MIN_SE = 3.0
#: ... with weights 1 / SE(log|c - c*|)^2 taken from the fitted line, re-fitted this many times: weights
#: from the observed |c^l - c*| favour the layers whose noise happened to push them up, which biased
#: xi up by 0.16-0.60 SE in the same study (|mean z| <= 0.09 after 3 re-fits).
DEPTH_FIT_ITERATIONS = 3
#: ... and NaN with fewer usable layers than this (two points always fit a line exactly).
DEPTH_FIT_MIN_LAYERS = 3
#: Points of the critical line (theory.critical_sigma_w2) drawn across a phase diagram's sigma_b^2 range.
CRITICAL_LINE_POINTS = 41

# --------------------------------------------------------------------- suites ---


@dataclass(frozen=True)
class SuiteConfig:
    """Monte Carlo sizes of a validation suite."""

    name: str
    relu_samples: int
    mlp_networks: int
    mlp_inputs: int
    mlp_width: int
    mlp_depth: int


# Sizes of the mean-field checks (the NLO checks have their own, below). Mean-field theory is the limit width -> infinity at
# fixed depth, and its finite-width corrections grow with depth/width (for
# the c-map of a ReLU/Xavier net at depth 20: 0.896, 0.934, 0.949 at widths 64,
# 256, 1024 against 0.952; for gelu/He at depth 20, c0 = 0.5: 0.43, 0.48, 0.56
# at widths 128, 512, 2048 against 0.667, confirmed by a plain-numpy Monte
# Carlo: tests/studies/gelu_cmap_finite_width.py), and they compound through
# the backward pass (silu, He init, depth 12: Monte Carlo qtilde at layer 1 is
# 2.72, 1.29, 1.04 x the mean-field value at widths 128, 512, 1536). A nightly
# run at depth 20, width 256 rejected mean-field c at up to 11 SE, and one at
# depth 12, width 512 rejected silu/He qtilde at 7 SE. The bias in units of
# the standard error grows like depth / width * sqrt(networks * inputs *
# width) = depth * sqrt(networks * inputs / width): 17 for quick, 24 for
# nightly (worst |z| 4.7 over 4,194 comparisons, none failing). The full
# suite keeps that figure at 24 and spends its extra time on width and on the
# ReLU-moment sample size, so a correct build passes it too; deeper nets are
# for the finite-width studies, not for a pass/fail against mean-field theory.
SUITE_CONFIGS = {
    "quick": SuiteConfig("quick", relu_samples=200_000, mlp_networks=16, mlp_inputs=128, mlp_width=256,
                         mlp_depth=6),
    "nightly": SuiteConfig("nightly", relu_samples=4_000_000, mlp_networks=32, mlp_inputs=256,
                           mlp_width=512, mlp_depth=6),
    "full": SuiteConfig("full", relu_samples=40_000_000, mlp_networks=64, mlp_inputs=512,
                        mlp_width=2048, mlp_depth=6),
}
#: Suite names, in order of size.
SUITES = tuple(SUITE_CONFIGS)
#: One line per suite for ``--help``: how long it takes on 2 cores once the kernels are compiled
#: (2026-12-03: quick 50 s, nightly 257 s wall; full not re-run since it gained the NLO checks).
SUITE_DURATIONS = {"quick": "~50 s on 2 cores", "nightly": "~4.5 min", "full": "about an hour"}

#: Deep, finite-width networks checked against the 1/n (NLO) theory: name -> (activation, init or
#: sigma_w^2, bias). tanh-chaotic is tanh at sigma_w^2 = 1.5, sigma_b^2 = 0.1.
NLO_CASES = {
    "tanh": ("tanh", "xavier_normal", "zero"),
    "tanh-chaotic": ("tanh", 1.5, ("normal", 0.1)),
    "erf": ("erf", "xavier_normal", "zero"),
    "gelu-he": ("gelu", "he_normal", "zero"),
    "relu-he": ("relu", "he_normal", "zero"),
    "relu-he-bias": ("relu", "he_normal", ("normal", 0.1)),
    "scaled_sigmoid": ("scaled_sigmoid", "xavier_normal", "zero"),
}
# Sizes, measured with tests/studies/nlo_suite_sizes.py and the suites themselves: the O(1/n^2)
# residual that NLO leaves must stay below the standard error. At depth 20 and the quick suite's
# precision (16 networks x 128 inputs) width 64 holds (NLO max |z| <= 3.4 for relu/He, gelu/He, tanh)
# and width 32 does not (relu/He ms_var |z| 28, gelu/He q |z| 37). At the nightly's precision
# (32 x 256) depth / width of 0.16-0.4 is not enough: with RNG seed 0, width 128 gave NLO |z| 7.7
# (relu/He ms_var at depth 50: theory 4.25, Monte Carlo 1.90 +- 0.31), 7.1 (tanh ms_var, depth 50)
# and 5.3 (relu/He + bias E[R^2], depth 20); width 256 at depth 50 still gave 4.0 (tanh ms_var).
# Second moments degrade first. So the nightly runs depth 20 at width 256 and depth 50 at width 512
# (depth / width <= 0.1; seed 1 at width 512, depth 50: NLO max |z| <= 3.7), and the full suite
# width 1024 at the same precision. gelu/He's c at depth 50 is left out at every width (|z| 57 at
# width 512: c^l approaches 1 and 1 - c^l is dominated by higher orders). Mean-field, beside them,
# is off by up to 23 SE (relu/He c, depth 50).
#: suite -> [(case, width, depth)], and the Monte Carlo sizes (networks, inputs) of those checks.
NLO_CHECKS = {
    "quick": [("relu-he", 64, 20)],
    "nightly": [(case, 256, 20) for case in NLO_CASES] + [(case, 512, 50) for case in NLO_CASES if case != "gelu-he"],
    "full": [(case, 1024, 20) for case in NLO_CASES] + [(case, 1024, 50) for case in NLO_CASES if case != "gelu-he"],
}
NLO_SIZES = {"quick": (16, 128), "nightly": (32, 256), "full": (32, 256)}
#: Widths of the finite-width figure (the gap against 1/width at depth 20, not tested): NLO holds
#: from width 64 on, and the figure shows where it stops.
NLO_GAP_WIDTHS = (32, 64, 128, 256)
#: Further widths where only the NLO line is drawn (each costs about a second of quadrature).
NLO_GAP_LINE_WIDTHS = (24, 45, 90, 512)
NLO_GAP_CASE, NLO_GAP_DEPTH = "relu-he", 20

#: The seed-claim checks simulate at most this many samples of d <= 3 coordinates (a few MB).
MAX_CLAIM_SAMPLES = 4_000_000
#: Widths of the finite-width studies (finite width means 16-64 here), and their depth caps: the
#: mean-field gap grows with depth, and E[R^2] of the exact law grows like exp(5 sum 1/n_l), so a
#: deeper narrow net would only widen the error bars, whatever depth a suite uses for its wide nets.
NARROW_WIDTHS = (16, 32, 64)
GAP_DEPTH = 6
LAW_DEPTH = 8

# -------------------------------------------------------------------- kernels ---

#: Fewest samples in a chunk: the chunk-replicate standard errors need chunks
#: big enough that the O(1/m) finite-chunk bias of their variance is small.
MIN_CHUNK = 64
#: Aim for this many chunks, so replicate standard errors have ~255 degrees of freedom.
TARGET_CHUNKS = 256
#: Upper bound on chunk_size * d, in elements, to keep a chunk's buffers in L2.
CHUNK_ELEMENTS = 1 << 18

#: Bytes of per-chunk statistics (a d x d cross-product each) held for one wave of ReLU-moment
#: chunks. Every wave costs two parallel regions, and on a shared machine each region can cost a
#: scheduler time slice (GNU OpenMP's barrier spins while another process holds a core), so waves
#: are as long as this allows.
WAVE_BYTES = 32 * 2**20

#: Samples x d per ReLU-moment wave, at most: about a second of work on 2 cores, so that a stop
#: request (Ctrl-C, SIGTERM) is honoured within about a second; waves change no bit of the result.
WAVE_ELEMENTS = 1 << 27
#: GEMM flops per MLP wave and network in flight, at most: also about a second of work.
MLP_WAVE_FLOPS = 3e10
#: A run projected (after its first wave) to take longer than this says how long it will take.
LONG_RUN_SECONDS = 600.0
#: Largest sample count: counts stay exact in float64 (and chunk indices far from int64 overflow).
MAX_SAMPLES = 2**53
#: Largest |cov| entry and |mean| entry of a Gaussian: squared samples summed over MAX_SAMPLES stay
#: finite in float64 (1.8e308), with room for the Cholesky factor and tail samples.
MAX_COV = 1e200
MAX_MEAN = 1e100

#: MLP inputs per block, at most. Single-threaded GEMMs of (rows x n) @ (n x n)
#: reach their plateau by about 512 rows (measured at n = 256 and 1024, float32
#: and float64); larger blocks push the two activation buffers out of cache
#: (width 1024, float64: 1024 and 2048 rows ran 8% slower; width 256, float32:
#: 256 to 2048 rows within 10% of each other, 512 and 1024 best).
BLOCK_ROWS = 512
#: MLP inputs per block, at least (a pair of correlated inputs must share a block).
MIN_BLOCK_ROWS = 2
#: Bytes per network in flight for the activation buffers and the per-layer
#: backward store (each thread holds one network at a time; its weights come
#: on top). A full 512-row block at width 1024, depth 20, float64 needs 19 MB
#: for ReLU and 92 MB for a generic activation; wider or deeper networks get
#: smaller blocks.
DEFAULT_MEMORY_BUDGET = 128 * 2**20

# --------------------------------------------------------------------- timing ---

#: Timings of a kernel (the median counts) and the least duration of each (profile, nightly).
TIMING_REPEAT = 5
TIMING_MIN_SECONDS = 0.05
#: Timings of a machine limit (the fastest counts: a competitor can only slow a timing down)
#: and the least duration of each.
LIMIT_REPEAT = 5
LIMIT_MIN_SECONDS = 0.02
#: Evaluations per scalar-limit call (exp(-x^2/2) on one core, ~10 ms): the limit of the theory kernels,
#: which do scalar transcendental work in one thread and have no RNG or GEMM to be measured against.
SCALAR_LIMIT_EVALUATIONS = 1 << 20
#: Normals per RNG-limit task; 8 tasks per thread keep every thread busy to the end.
RNG_TASK_SIZE = 1 << 16
RNG_TASKS_PER_THREAD = 8
#: Flops per thread in one GEMM-limit timing call, so that a call lasts ~10 ms or more.
GEMM_FLOPS_PER_CALL = 2e8
#: How long OpenBLAS's idle workers keep spinning after a multi-threaded call (generous).
BLAS_SPIN_SECONDS = 0.5
#: Cores that other processes may keep busy before a timing report warns that it is distorted.
BUSY_CORES_WARNING = 0.25
#: The benchmark scripts' default thread count: the MLP benchmark's stated setting, 2 threads.
BENCHMARK_THREADS = 2
#: Seconds a profile child process (a cold compile) may take.
PROFILE_CHILD_TIMEOUT = 600
#: Unaccounted share (negative: the phases alone took longer than the kernel) below which the profile warns.
NEGATIVE_UNACCOUNTED_WARNING = -0.10
#: Nightly's regression rule (mcbench/perf/nightly.py): the drop of a kernel's median fraction of
#: limit (or rise of its median seconds) a flag needs ...
NIGHTLY_FACTOR = 1.2
#: ... the family-wise level of the one-sided Mann-Whitney tests, Holm-corrected over the kernels ...
NIGHTLY_ALPHA = 0.01
#: ... and the timing rounds per kernel (kernel, then its limit). With 7 rounds the smallest exact
#: one-sided p-value is 1/3432, so Holm over the 8 nightly kernels can still reject at 0.01 with
#: one of the 49 round pairs out of order.
NIGHTLY_ROUNDS = 7
#: Cores kept busy by other processes (in the baseline or the new run) above which a nightly flag is
#: only ``SLOWER?``, not counted as a regression.
NIGHTLY_BUSY_CORES = BUSY_CORES_WARNING

# ------------------------------------------------------------------- problems ---

#: Every timed kernel's default problem: the one table that ``prepare``, nightly, profile,
#: asv and pytest-benchmark start from (their own tables below only override entries).
DEFAULT_PROBLEMS = {
    "sample_mvn": {"d": 16, "n": 200_000, "dtype": "float64", "seed": 1},
    "relu_moments": {"d": 16, "n": 200_000, "dtype": "float64", "seed": 1},
    "mlp_propagation": {"width": 256, "depth": 10, "batch": 1024, "networks": 2, "dtype": "float64",
                        "activation": "relu", "init": "he_normal", "seed": 1},
    "bvn_cdf": {"n": 100_000, "seed": 1},
    "theory_relu_moments": {"d": 64},
    "theory_mlp": {"width": 256, "depth": 50, "activation": "tanh", "init": "xavier_normal",
                   "pair_correlation": 0.5},
}
#: The problems nightly runs time (small enough for a 2-core CI machine): overrides of DEFAULT_PROBLEMS.
NIGHTLY_PROBLEMS = [
    ("sample_mvn", {"d": 16, "n": 1_000_000}),
    ("relu_moments", {"d": 16, "n": 2_000_000}),
    ("relu_moments", {"d": 256, "n": 100_000}),
    ("relu_moments", {"d": 64, "n": 500_000, "dtype": "float32"}),
    ("mlp_propagation", {"width": 256, "depth": 10, "batch": 2048}),
    ("bvn_cdf", {"n": 200_000}),
    ("theory_relu_moments", {"d": 64}),
    ("theory_mlp", {"depth": 50}),
]
#: ``mcbench profile``'s problem options per kind of kernel, and their defaults (None: derived).
PROFILE_PROBLEMS = {
    "gaussian": {"d": 64, "n": None},  # relu_moments, sample_mvn; n defaults to ~2e7 normals / d
    "mlp": {"width": 256, "depth": 10, "batch": 2048, "activation": "relu"},  # mlp_propagation
}
#: Samples x d per ``mcbench profile`` call when ``--n`` is not given.
PROFILE_NORMALS = 2e7

# --------------------------------------------------------------------- report ---

#: A check with at most this many rows is shown whole in the report; larger ones show the worst rows.
FULL_TABLE_MAX_ROWS = 20
WORST_ROWS = 10
#: Resolution of the report's PNG figures.
FIGURE_DPI = 110
#: z-scores beyond +-Z_CLIP are drawn at the edge of the z histogram.
Z_CLIP = 5.0


# ---------------------------------------------------------------------- sweeps ---

#: mcbench sweep defaults per cell: networks (the replicates behind every SE), inputs per network (even:
#: they go through as pairs) and the pair's input correlation. At width 256, depth 30 a cell's Monte
#: Carlo takes ~1 s on one core with these sizes and its mean-field theory ~1.3 s (the c-map's 2-D
#: quadrature at each layer; NLO adds ~3 s), 2026-12-03; the SE of the log gradient ratio is ~0.05.
SWEEP_NETWORKS = 32
SWEEP_INPUTS = 64
SWEEP_PAIR_CORRELATION = 0.5
#: Default bias variance of a sweep's cells (Gaussian bias), for the API and the CLI alike.
SWEEP_SIGMA_B2 = 0.05
#: Expected cost of a cell, for the sweep's progress ETA (seconds on one core, 2026-12-03): the Monte
#: Carlo's 4 n^2 flops per layer, input and network at ~1e10 flop/s, plus the theory's time per layer
#: (the c-map's 2-D quadrature with a pair correlation, ~45 ms; ~2 ms without).
SWEEP_FLOP_RATE = 1e10
SWEEP_THEORY_LAYER_SECONDS = {"pair": 0.045, "single": 0.002}
