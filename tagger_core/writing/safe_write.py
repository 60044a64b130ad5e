"""Writing a file's tags without ever leaving it half-written.

mutagen edits files in place; a crash or a bug there can corrupt audio. Here
the tags go into a copy beside the original; the copy's audio digest must
equal the original's and its tags must read back as intended; only then is it
fsynced and swapped in with ``os.replace`` (atomic on POSIX and Windows), with
the original's permissions. Every failure path removes the copy. Killed at any
instant, the original path holds either the whole old file or the whole new
one; a leftover copy is recognisable by its name and removed on the next try.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tagger_core.errors import TaggerError
from tagger_core.writing.digest import audio_digest

TEMP_MARK = ".music-tagger-export.tmp"
NAME_MAX = 255  # bytes in one file name on every filesystem an archive is likely on


class FileSkipped(TaggerError):
    """The file cannot be written now (vanished, read-only, locked, changed since scan)."""


class WriteRefused(TaggerError):
    """The written copy failed verification; the original is untouched."""


@dataclass(frozen=True)
class FileState:
    """What a file looked like when it was checked."""

    size: int
    mtime_ns: int
    inode: int
    mode: int


def temp_path_for(path: str) -> str:
    """The hidden copy written beside ``path`` (one name per file, so leftovers are found).

    A name near the 255-byte limit leaves no room for the mark: its copy is named
    by a hash of the name instead, still one name per file.
    """
    folder, name = os.path.split(path)
    temp = f".{name}{TEMP_MARK}"
    if len(os.fsencode(temp)) > NAME_MAX:
        temp = f".{hashlib.sha256(os.fsencode(name)).hexdigest()[:32]}{TEMP_MARK}"
    return os.path.join(folder, temp)


def remove_leftover(path: str) -> bool:
    """Delete a copy an interrupted write left behind; True when there was one.

    On a read-only folder or mount the copy cannot be removed, and nothing
    will be written there either (``check_file`` says so): not an error here.
    """
    try:
        os.unlink(temp_path_for(path))
        return True
    except OSError:
        return False


def _read_only_mount(path: str) -> bool:
    """Whether ``path`` lies on a file system mounted read-only (POSIX ``statvfs``)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # Windows has no statvfs: the access checks still apply
        return False


def check_file(
    path: str, expected_size: int | None = None, expected_mtime_ns: int | None = None
) -> FileState:
    """The file's state, or ``FileSkipped`` saying in one line why it must not be written."""
    try:
        st = os.stat(path)
    except FileNotFoundError as err:
        raise FileSkipped("file vanished") from err
    except OSError as err:
        raise FileSkipped(f"cannot stat file: {err.strerror}") from err
    if not stat.S_ISREG(st.st_mode):
        raise FileSkipped("not a regular file")
    if _read_only_mount(path):
        raise FileSkipped("on a read-only file system (mounted read-only): nothing can be written")
    if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
        raise FileSkipped("file is read-only")
    folder = os.path.dirname(path) or "."
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FileSkipped("folder is read-only (no room for the safe copy)")
    if expected_size is not None and (st.st_size, st.st_mtime_ns) != (
        expected_size,
        expected_mtime_ns,
    ):
        raise FileSkipped("file changed since the last scan; rescan first")
    return FileState(st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on the original; ``FileSkipped`` if another has it."""
    try:
        handle = open(path, "r+b")  # noqa: SIM115 - held for the whole write
    except PermissionError as err:
        raise FileSkipped("file is locked or read-only") from err
    except FileNotFoundError as err:
        raise FileSkipped("file vanished") from err
    except OSError as err:  # e.g. a read-only mount
        raise FileSkipped(f"file cannot be opened for writing: {err.strerror}") from err
    with handle:
        try:
            import fcntl
        except ImportError:  # Windows: opening for update already fails when locked
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise FileSkipped("file is locked by another program") from err
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync_path(path: str, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # some platforms cannot open folders; the rename is still atomic
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def fsync_folder(folder: str) -> None:
    """Make renames in ``folder`` durable (no-op where folders cannot be fsynced)."""
    _fsync_path(folder or ".", directory=True)


def copy_original(path: str, tmp: str) -> None:
    """Copy the original beside itself: the first write of a safe write (a full disk shows here)."""
    shutil.copyfile(path, tmp)


def _os_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err`` (mutagen wraps them in its own errors), if any."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _refusal(err: BaseException, step: str) -> WriteRefused:
    """One line for a failed step of the copy; the original is untouched in every case."""
    os_err = _os_error(err)
    if os_err is not None and os_err.errno in (errno.ENOSPC, errno.EDQUOT):
        return WriteRefused(
            f"no space left on the device for the safe copy ({step}); file untouched"
        )
    if step == "tag writer":
        return WriteRefused(f"tag writer failed: {type(err).__name__}: {err}")
    reason = os_err.strerror if os_err is not None and os_err.strerror else str(err)
    return WriteRefused(f"safe copy failed ({step}): {reason}; file untouched")


def _check_still(path: str, state: FileState) -> None:
    """Refuse to replace a file that changed (contents, identity, permissions) since ``state``."""
    try:
        now = os.stat(path)
    except FileNotFoundError as err:
        raise FileSkipped("file vanished while its tags were being written") from err
    if (now.st_size, now.st_mtime_ns, now.st_ino) != (state.size, state.mtime_ns, state.inode):
        raise WriteRefused("file changed while its tags were being written")
    if now.st_mode != state.mode:
        raise FileSkipped("permissions changed since the export was planned; not written")


def safe_write(
    path: str,
    fmt: str | None,
    edit: Callable[[str], None],
    *,
    verify: Callable[[str], None] | None = None,
    state: FileState | None = None,
    digest: str | None = None,
    sync_folder: bool = True,
    start_from_copy: bool = True,
) -> FileState:
    """Apply ``edit`` (which writes tags into the path it is given) to ``path`` safely.

    ``state``/``digest`` are the original's as checked by the caller (computed
    here when omitted); if the original changes meanwhile the write is refused.
    ``verify`` reads the copy back and raises when the tags are not as intended.
    ``sync_folder=False`` leaves the folder's fsync (making the rename durable)
    to the caller, who may do it once for many files. ``start_from_copy=False``
    hands ``edit`` an empty file to fill (a restore writes the whole file).
    Returns the new file's state.
    """
    state = state or check_file(path)
    with _locked(path):
        digest = digest or audio_digest(path, fmt)
        tmp = temp_path_for(path)
        remove_leftover(path)
        try:
            try:
                if start_from_copy:
                    copy_original(path, tmp)
                else:
                    open(tmp, "wb").close()
            except OSError as err:
                raise _refusal(err, "copy") from err
            try:
                edit(tmp)
            except TaggerError:
                raise
            except Exception as err:  # mutagen raises many types
                raise _refusal(err, "tag writer") from err
            try:
                after = audio_digest(tmp, fmt)
            except TaggerError as err:
                raise WriteRefused(f"written copy is unreadable: {err}") from err
            if after != digest:
                raise WriteRefused("audio payload of the written copy differs; write refused")
            if verify is not None:
                verify(tmp)
            os.chmod(tmp, stat.S_IMODE(state.mode))
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if (os.stat(tmp).st_uid, os.stat(tmp).st_gid) != (st.st_uid, st.st_gid):
                    os.chown(tmp, st.st_uid, st.st_gid)
            try:
                _fsync_path(tmp)
            except OSError as err:
                raise _refusal(err, "fsync") from err
            _check_still(path, state)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    if sync_folder:
        fsync_folder(os.path.dirname(path))
    st = os.stat(path)
    return FileState(st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)
