"""mcbench benchmarks: standalone scripts (``bench_*.py``) and the asv suite (``asv_*.py``).

asv imports every module in this package; the scripts only define functions
and run under ``if __name__ == "__main__"``, so importing them is harmless.
"""
