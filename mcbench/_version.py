"""mcbench's version, as installed (the package metadata), or a placeholder in a source tree."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcbench")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
