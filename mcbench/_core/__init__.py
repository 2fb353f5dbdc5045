"""Plumbing shared by the kernels: random streams, BLAS, threads, argument checks, the jit decorator.

Private to mcbench: nothing outside the package imports from here, and nothing
here imports from the rest of mcbench.
"""
