"""The validation's warm-up compiles (or loads) every kernel its checks call.

Otherwise a first run charges a compilation to whichever check happens to
need the kernel first: its time in run.json, and the progress line's ETA,
then include tens of seconds of compiling (it did: mlp/linear-variance,
whose one-byte-mask kernel variant the warm-up missed, took 10 s cold).
"""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import json
import numba.core.dispatcher as dispatcher
from mcbench.validation import runner as validate

validate.warm_up()
added = []
add_overload = dispatcher.Dispatcher.add_overload

def recording(self, cres):  # every overload a dispatcher gains, compiled or loaded from the cache
    added.append(self.py_func.__qualname__)
    return add_overload(self, cres)

dispatcher.Dispatcher.add_overload = recording
firsts = {}
for check in validate.catalogue():
    firsts.setdefault("/".join(check.name.split("/")[:2]), check.name)
for name in firsts.values():
    validate.run_validation("quick", seed=0, quiet=True, only=name)
print(json.dumps({"checks": sorted(firsts.values()), "added": added}))
"""


def test_no_check_compiles_a_kernel_after_the_warm_up():
    """One check of every family (its kernels and dtypes), in a fresh interpreter, after ``warm_up``."""
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert len(seen["checks"]) >= 20 and any(c.startswith("mlp/linear-variance") for c in seen["checks"])
    assert seen["added"] == [], f"compiled or loaded after the warm-up: {seen['added']}"
