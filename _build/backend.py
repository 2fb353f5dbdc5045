"""mcbench's build backend: setuptools, plus the commit it builds (``mcbench/_build_info.json``).

An installed (non-editable) mcbench has no git checkout beside it, so it
cannot ask git which commit it is. This backend asks git in the source tree
at build time and writes ``mcbench/_build_info.json`` (commit, dirty) into
the wheel or sdist; :func:`mcbench.env.source_provenance` reads it. The file
is git-ignored and removed from the source tree again after the build, so a
checkout never carries a stale one (there git is asked directly). Building
from an sdist (no git) keeps the file the sdist brought. Editable installs
get no file: their source is the checkout itself.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403 - every hook we do not override

ROOT = Path(__file__).resolve().parents[1]
INFO = ROOT / "mcbench" / "_build_info.json"


def _git(*args):
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _with_build_info(build):
    def hook(*args, **kwargs):
        commit = _git("rev-parse", "--verify", "HEAD")
        top = _git("rev-parse", "--show-toplevel")
        if commit is None or top is None or Path(top).resolve() != ROOT:
            return build(*args, **kwargs)  # an unpacked sdist: keep the file it brought
        status = _git("status", "--porcelain", "--untracked-files=no")
        INFO.write_text(json.dumps({"commit": commit, "dirty": bool(status) if status is not None else True}) + "\n")
        try:
            return build(*args, **kwargs)
        finally:
            INFO.unlink(missing_ok=True)
    return hook


build_wheel = _with_build_info(_setuptools.build_wheel)
build_sdist = _with_build_info(_setuptools.build_sdist)
