"""A dependency-free progress line for long runs: current step, count and ETA.

On a terminal it redraws one line on stderr; elsewhere (CI logs, cron mail)
it prints one plain line per step so logs stay readable. ``quiet`` silences it.
"""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Weighted progress: each step has a cost estimate, so the ETA is not naive."""

    def __init__(self, weights, *, quiet=False, stream=None, label="mcbench", unit=""):
        self.weights = [max(float(w), 1e-9) for w in weights]
        self.total = sum(self.weights)
        self.done = 0.0
        self.step = 0
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.label = label
        self.unit = f"{unit} " if unit else ""  # what a step is, before its count: "check group 3/65"
        self.start = time.perf_counter()

    def begin(self, name: str):
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done > 0 else float("nan")
        eta_txt = _clock(eta) if eta == eta else "?"
        frac = self.done / self.total
        bar = "#" * int(20 * frac) + "-" * (20 - int(20 * frac))
        line = (f"{self.label} [{bar}] {self.unit}{self.step + 1}/{len(self.weights)} {name}  "
                f"elapsed {_clock(elapsed)}  ETA {eta_txt}")
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self):
        self.done += self.weights[self.step]
        self.step += 1

    def close(self):
        if not self.quiet and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
