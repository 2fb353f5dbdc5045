"""Atomic, locked writes into results/: a killed or concurrent run never leaves a partial folder or corrupt file.

* A run folder is built in a hidden temporary folder next to its final place
  and renamed into place only when complete (rename is atomic within a file
  system). The run holds an ``flock`` on a lock file inside the temporary
  folder for as long as it lives, so another run (on another machine or in
  another container sharing the folder) deletes a leftover only when it can
  take that lock, i.e. when its owner is gone; a process id would mean
  nothing across machines.
* A checked CSV (the nightly history) carries a CRC-32 of every line, so a
  truncated or edited row is refused instead of being read as a shorter
  value. It is rewritten whole beside itself, fsync-ed and renamed over the
  old copy, keeping the old file's permissions; read-modify-write cycles are
  serialised by an ``flock`` on ``<file>.lock`` (:func:`locked`).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import shutil
import tempfile
import zlib
from pathlib import Path

from mcbench._signals import checkpoint

# The umask can only be read by setting it; do that once, at import, not while other threads may
# be creating files with the temporary umask of 0.
_UMASK = os.umask(0)
os.umask(_UMASK)

TMP_PREFIX = ".tmp-"
#: The lock file inside a live temporary folder; it is created under another name and renamed
#: to this one only once locked, so a folder showing it unlocked is certainly abandoned.
LOCK_NAME = ".lock"
_UNREADY_LOCK = ".lock-unready"
CRC_COLUMN = "crc32"


class DamagedFile(ValueError):
    """A checked CSV that does not parse completely: refused, left untouched."""


def _fsync_dir(folder: Path):
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path, wait: bool = True):
    """Hold an exclusive ``flock`` on ``<path>.lock`` (created beside ``path`` if missing) within the block.

    With ``wait=False`` a lock held by another process raises ``BlockingIOError`` at once.
    """
    path = Path(path)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)  # releases the lock


class TemporaryFolder:
    """A hidden, locked folder in ``parent`` that a run writes into and then publishes under its final name."""

    def __init__(self, parent: Path, label: str):
        self.parent = Path(parent)
        self.path = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{label}-", dir=self.parent))
        unready = self.path / _UNREADY_LOCK
        self._fd = os.open(unready, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.rename(unready, self.path / LOCK_NAME)
        self.published = False

    def publish(self, final: Path):
        """Rename the folder to ``final`` (which must not exist), after a last check for a stop request."""
        final = Path(final)
        checkpoint()  # a stop request that could not be raised while the run worked: never publish
        if final.exists():  # a rename onto an empty folder would silently replace it
            raise FileExistsError(f"{final} appeared while this run worked; nothing was written there, "
                                  "choose another --out")
        os.chmod(self.path, 0o777 & ~_UMASK)  # mkdtemp makes it owner-only; results are shared like any folder
        os.unlink(self.path / LOCK_NAME)  # the lock itself stays held until close()
        os.rename(self.path, final)
        _fsync_dir(final.parent)
        self.published = True

    def close(self):
        """Remove the folder unless it was published, and release its lock."""
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._fd)


@contextlib.contextmanager
def temporary_folder(parent: Path, label: str, what: str):
    """Yield a :class:`TemporaryFolder` in ``parent`` (created if missing), removed unless published.

    Created first, before any work: an output that cannot be written (a
    read-only folder, a path that is or lies under a file) fails at once, as
    a ValueError naming ``what`` (the argument and its value), instead of after the run. On an exception,
    KeyboardInterrupt included, the folder is removed; on SIGKILL it stays,
    hidden, unlocked, and the next run deletes it (:func:`remove_stale_temporaries`).
    """
    parent = Path(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(parent)
        folder = TemporaryFolder(parent, label)
    except OSError as exc:
        raise ValueError(f"{what}: cannot create a folder in {parent} ({exc.strerror or exc}); "
                         "choose a writable folder") from None
    try:
        yield folder
    finally:
        folder.close()


@contextlib.contextmanager
def atomic_directory(final: Path):
    """Yield a temporary folder that becomes ``final`` when the block succeeds; ``final`` must not exist."""
    final = Path(final)
    if final.exists() or final.is_symlink():
        raise FileExistsError(f"output folder {final} already exists; choose another --out")
    with temporary_folder(final.parent, final.name, f"--out {final}") as folder:
        yield folder.path
        folder.publish(final)


def remove_stale_temporaries(folder: Path):
    """Delete the hidden temporary folders in ``folder`` whose owner is gone (their lock can be taken).

    A folder without a lock file is left alone: it is being created or
    published this instant (or its owner was killed in the microseconds
    between creating and locking it, leaving it empty).
    """
    for path in Path(folder).glob(TMP_PREFIX + "*"):
        try:
            fd = os.open(path / LOCK_NAME, os.O_RDWR)
        except OSError:  # no lock file, or not a folder of ours
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live run, possibly on another machine
            os.close(fd)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


# ----------------------------------------------------------------- checked CSV ---


def _csv_line(fields) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _crc(text: str) -> str:
    return f"{zlib.crc32(text.encode('utf-8')):08x}"


def checked_header(columns) -> str:
    """The header line of a checked CSV with ``columns``."""
    return _csv_line(list(columns) + [CRC_COLUMN]) + "\n"


def checked_lines(records) -> str:
    """CSV lines (each ending in a newline) of ``records`` (lists of strings), each with its CRC-32 appended."""
    out = []
    for fields in records:
        if any("\n" in f or "\r" in f for f in fields):
            raise ValueError(f"a checked CSV field cannot hold a line break: {fields}")
        body = _csv_line(fields)
        out.append(f"{body},{_crc(body)}\n")
    return "".join(out)


def read_checked(path: Path, columns, recover: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every row of the checked CSV ``path``; :class:`DamagedFile` unless all is well.

    Refused: a header other than ``columns`` + crc32, a last line without its
    newline (a write cut short), a line whose CRC does not match (truncated or
    edited), a wrong number of fields. ``recover`` (what to do) ends the message.
    """
    path = Path(path)

    def damaged(where, what):
        return DamagedFile(f"{path}{where}: {what}; the file was left untouched. {recover}")

    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise damaged("", "is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged("", f"cannot be read ({exc})") from None
    if not text:
        raise damaged("", "is empty (a history is written whole, with its header)")
    lines = text.split("\n")
    if lines[-1] != "":
        raise damaged(f" line {len(lines)}", "ends without a newline (a write cut short)")
    lines = lines[:-1]
    if lines[0] + "\n" != checked_header(columns):
        raise damaged(" line 1", f"header is not {checked_header(columns).strip()!r}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        body, _, crc = line.rpartition(",")
        if not body or crc != _crc(body):
            raise damaged(f" line {number}", "checksum does not match (the line was truncated or edited)")
        fields = next(csv.reader([body]))
        if len(fields) != len(columns):
            raise damaged(f" line {number}", f"has {len(fields)} fields, not {len(columns)}")
        rows.append((number, fields))
    return rows


def replace_file_with(path: Path, write):
    """Make ``path`` atomically: ``write(tmp)`` writes a hidden copy beside it, which is fsync-ed and renamed over it.

    The copy keeps ``path``'s mode, or gets the mode the umask allows (0666 &
    ~umask) for a new file, as any file the user creates; mkstemp alone would
    make it 0600. Its name is unique and ends in ``path``'s suffix (writers such
    as matplotlib choose the format by it), so two writers never share one.
    On any exception, KeyboardInterrupt included, the copy is removed.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_UMASK
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_file(path: Path, text: str):
    """Write ``text`` to ``path`` atomically (:func:`replace_file_with`), keeping ``path``'s mode."""
    replace_file_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def remove_stale_file_temporaries(path: Path):
    """Delete leftovers of :func:`replace_file` on ``path``; call it holding :func:`locked` (``path``).

    Every writer holds the lock while its copy exists, so under the lock any copy is a killed writer's.
    """
    path = Path(path)
    for tmp in path.parent.glob(f"{TMP_PREFIX}{path.name}-*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
