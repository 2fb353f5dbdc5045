"""Issue 16, part 2: an installed mcbench records the commit it was built from, as ``python -m mcbench`` does.

The install test builds this checkout non-editable into a temporary virtual
environment (``--system-site-packages``, ``--no-deps --no-build-isolation``:
the dependencies are already there) and asks the installed package, from a
folder outside any checkout, which commit it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from mcbench import env

ROOT = Path(__file__).resolve().parents[1]


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def test_the_checkout_reports_its_own_commit():
    info = env.source_provenance()
    assert info["source"] == "git" and info["commit"] == _git("rev-parse", "HEAD")
    assert info["dirty"] == bool(_git("status", "--porcelain", "--untracked-files=no"))


def test_a_package_inside_another_repository_is_not_read_from_git(tmp_path, monkeypatch):
    """A venv inside some checkout: git there would name that repository's commit, not mcbench's."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "mcbench").mkdir()
    assert env._project_checkout(tmp_path / "mcbench") is None
    assert env._project_checkout(ROOT / "mcbench") == ROOT


def test_build_information_is_used_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(env, "_project_checkout", lambda here: None)
    monkeypatch.setattr(env, "BUILD_INFO", tmp_path / "_build_info.json")
    assert env.source_provenance() == {"commit": "unknown", "dirty": None, "source": "unknown"}
    (tmp_path / "_build_info.json").write_text(json.dumps({"commit": "abc", "dirty": True}))
    assert env.source_provenance() == {"commit": "abc", "dirty": True, "source": "build"}
    assert env.git_commit() == "abc-dirty"


_ASK = ("import json, mcbench, mcbench.env as e; "
        "print(json.dumps(e.source_provenance() | {'file': mcbench.__file__, 'env': e.environment()['commit']}))")


def test_a_non_editable_install_records_the_commit_it_was_built_from(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The dependencies of the environment running this test (it may itself be a venv): a .pth line adds
    # them after the new venv's own site-packages, so the freshly installed mcbench comes first.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "outer-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # setuptools < 70.1 builds wheels only with the `wheel` package, which --no-build-isolation needs present.
    has_wheel = subprocess.run([str(python), "-c", "import wheel"], capture_output=True).returncode == 0
    if not has_wheel and subprocess.run([str(python), "-m", "pip", "install", "-q", "wheel"], capture_output=True,
                                        timeout=300).returncode != 0:
        pytest.skip("building a wheel needs the `wheel` package (setuptools < 70.1), and it could not be installed")
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr
    assert not (ROOT / "mcbench" / "_build_info.json").exists()  # the checkout keeps no stale copy
    clean_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([str(python), "-c", _ASK], cwd=tmp_path, capture_output=True, text=True, env=clean_env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["file"].startswith(str(venv)) and info["source"] == "build"
    assert info["commit"] == _git("rev-parse", "HEAD")
    assert info["dirty"] == bool(_git("status", "--porcelain", "--untracked-files=no"))
    assert info["env"].split("-")[0] == info["commit"]  # what nightly and validate record
    version = subprocess.run([str(venv / "bin" / "mcbench"), "--version"], cwd=tmp_path, capture_output=True,
                             text=True, env=clean_env, timeout=300)
    assert info["commit"] in version.stdout and "from build" in version.stdout, version.stdout
