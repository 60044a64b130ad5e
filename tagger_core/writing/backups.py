"""What an export keeps so that undo gives back every file byte for byte.

Restoring tag *values* leaves a file different from before (padding, frame
order, ID3 version), which an archive that checksums its masters reports as
changed. So before a file is written, the export keeps either a copy of it
(files up to ``max_copy_bytes``) or, for larger files, its tag regions (see
``regions``), and records the sha256 of the whole file. Each backup is
checksummed (a copy must hash to the recorded sha256; a region file carries
its own sha256) and made durable (temp beside, fsync, rename) before the
original is touched. Backups live in one folder per batch under a root beside
the library; folders older than ``keep_days`` are pruned at the next export.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import os
import re
import secrets
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from platformdirs import user_data_path
from sqlalchemy.engine import make_url

from tagger_core.db.location import APP_NAME
from tagger_core.errors import ConfigError, TaggerError
from tagger_core.writing.regions import NoRegions, Split, page_patches, payload_blocks, split
from tagger_core.writing.safe_write import FileSkipped, FileState

ENV_DIR = "MUSIC_TAGGER_EXPORT_BACKUPS"
ENV_MAX_MB = "MUSIC_TAGGER_BACKUP_MAX_MB"
ENV_KEEP_DAYS = "MUSIC_TAGGER_BACKUP_KEEP_DAYS"
DEFAULT_MAX_MB = 64.0
DEFAULT_KEEP_DAYS = 30.0
MB = 1024 * 1024
BLOCK = 1 << 20
REGIONS_MAGIC = b"MTTAGREG"
_HEAD = struct.Struct("<8sQQQ")  # magic, head length, tail length, Ogg patch length
STAMP = "%Y%m%dT%H%M%SZ"


class BackupUnusable(TaggerError):
    """A batch's backup of a file is gone, corrupt, or does not fit the file any more."""


@dataclass(frozen=True)
class BackupSettings:
    """Where backups go, which files are copied whole, and how long backups are kept.

    ``root`` None means ``<library name>.export-backups`` beside the library
    database (in the platform's user data dir by default). ``keep=False``
    keeps no backups: undo then restores tag values only, and says so.
    """

    root: Path | None = None
    max_copy_bytes: int = int(DEFAULT_MAX_MB * MB)
    keep_days: float = DEFAULT_KEEP_DAYS
    keep: bool = True

    @classmethod
    def from_env(
        cls,
        root: str | None = None,
        max_mb: float | None = None,
        keep_days: float | None = None,
        keep: bool = True,
    ) -> BackupSettings:
        """Settings from arguments, else from the environment (``ENV_*``), else defaults."""
        root = root or os.environ.get(ENV_DIR) or None
        if max_mb is None:
            max_mb = _env_number(ENV_MAX_MB, DEFAULT_MAX_MB)
        if keep_days is None:
            keep_days = _env_number(ENV_KEEP_DAYS, DEFAULT_KEEP_DAYS)
        if max_mb < 0 or keep_days < 0:
            raise ConfigError("backup size limit and retention must not be negative")
        return cls(Path(root).expanduser() if root else None, int(max_mb * MB), keep_days, keep)

    def root_for(self, library_path: Path | str) -> Path:
        """The folder that holds one sub-folder per batch.

        Beside an SQLite library; for a library on a server (a URL), in this
        computer's user data folder, one folder per server database.
        """
        if self.root is not None:
            return self.root
        if isinstance(library_path, Path):
            return library_path.parent / f"{library_path.stem}.export-backups"
        url = make_url(library_path)
        name = f"{url.host or 'localhost'}-{url.port or 5432}-{url.database or ''}"
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return user_data_path(APP_NAME, appauthor=False) / "export-backups" / safe


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError as err:
        raise ConfigError(f"${name} must be a number, not {text!r}") from err


def new_batch_folder(root: Path, batch_id: int, now: dt.datetime | None = None) -> Path:
    """Create the folder of a new batch; its name starts with the UTC time, for pruning."""
    now = now or dt.datetime.now(dt.UTC)
    folder = root / f"{now.strftime(STAMP)}-batch{batch_id}-{secrets.token_hex(3)}"
    try:
        folder.mkdir(parents=True)
    except OSError as err:
        raise ConfigError(f"cannot create export backup folder {folder}: {err.strerror}") from err
    return folder


def prune(root: Path, keep_days: float, now: dt.datetime | None = None) -> list[Path]:
    """Delete batch folders older than ``keep_days``; returns those deleted."""
    now = now or dt.datetime.now(dt.UTC)
    gone = []
    if not root.is_dir():
        return gone
    for folder in sorted(root.iterdir()):
        try:
            made = dt.datetime.strptime(folder.name.split("-", 1)[0], STAMP).replace(tzinfo=dt.UTC)
        except ValueError:
            continue  # not ours
        if folder.is_dir() and now - made > dt.timedelta(days=keep_days):
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone


def remove_folder(folder: str | None) -> None:
    """Delete a batch's backups once they can no longer be needed (batch fully undone)."""
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def _no_room(err: OSError, what: str) -> TaggerError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return FileSkipped(f"no space left for {what}; file untouched")
    return FileSkipped(f"cannot write {what}: {err.strerror or err}; file untouched")


@contextlib.contextmanager
def _durable(target: Path) -> Iterator[BinaryIO]:
    """Write ``target`` via a temp beside it, fsynced, renamed; the temp never stays."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with open(tmp, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_unchanged(f: BinaryIO, state: FileState) -> None:
    st = os.fstat(f.fileno())
    if (st.st_size, st.st_mtime_ns, st.st_ino) != (state.size, state.mtime_ns, state.inode):
        raise FileSkipped("file changed between plan and write; rescan first")


def make_backup(
    path: str, fmt: str | None, folder: str, name: str, max_copy_bytes: int, state: FileState
) -> tuple[str, dict[str, Any]]:
    """Keep what restores ``path`` byte for byte; returns (sha256 of the file, record).

    ``state`` is the file as the export planned it; a file changed since is
    skipped. A record ``{"kind": None}`` means no byte-exact undo is possible
    (over the size limit and a layout ``regions`` cannot describe).
    """
    try:
        src = open(path, "rb")  # noqa: SIM115 - closed below, errors told apart from the backup's
    except FileNotFoundError as err:
        raise FileSkipped("file vanished") from err
    except OSError as err:
        raise FileSkipped(f"file cannot be read: {err.strerror}") from err
    try:
        with src:
            _check_unchanged(src, state)
            if state.size <= max_copy_bytes:
                return _copy(src, Path(folder) / f"{name}.orig")
            try:
                where = split(path, fmt)
            except NoRegions as err:
                return _hash(src), {"kind": None, "reason": str(err)}
            return _hash(src), _keep_regions(path, src, where, Path(folder) / f"{name}.tags")
    except OSError as err:
        raise _no_room(err, "the undo backup") from err


def _hash(src: BinaryIO) -> str:
    h = hashlib.sha256()
    src.seek(0)
    while block := src.read(BLOCK):
        h.update(block)
    return h.hexdigest()


def _copy(src: BinaryIO, target: Path) -> tuple[str, dict[str, Any]]:
    h = hashlib.sha256()
    with _durable(target) as out:
        while block := src.read(BLOCK):
            h.update(block)
            out.write(block)
    return h.hexdigest(), {"kind": "copy", "file": target.name}


def _keep_regions(path: str, src: BinaryIO, where: Split, target: Path) -> dict[str, Any]:
    src.seek(0)
    head = src.read(where.start)
    src.seek(where.end)
    tail = src.read()
    patches = page_patches(path, where)
    body = _HEAD.pack(REGIONS_MAGIC, len(head), len(tail), len(patches)) + head + tail + patches
    with _durable(target) as out:
        out.write(body + hashlib.sha256(body).digest())
    return {"kind": "regions", "file": target.name, "head": len(head), "tail": len(tail)}


def _read_regions(file: Path) -> tuple[bytes, bytes, bytes]:
    data = file.read_bytes()
    body, check = data[:-32], data[-32:]
    if len(data) < _HEAD.size + 32 or hashlib.sha256(body).digest() != check:
        raise BackupUnusable("the backup of its tag regions is corrupt")
    magic, n_head, n_tail, n_patch = _HEAD.unpack_from(body)
    if magic != REGIONS_MAGIC or _HEAD.size + n_head + n_tail + n_patch != len(body):
        raise BackupUnusable("the backup of its tag regions is corrupt")
    at = _HEAD.size
    tail_at = at + n_head
    return body[at:tail_at], body[tail_at : tail_at + n_tail], body[tail_at + n_tail :]


def check_backup(folder: str | None, record: dict[str, Any] | None, sha256: str) -> Path:
    """The backup file of a record after checking it; ``BackupUnusable`` says why not."""
    if not record or not record.get("kind"):
        reason = (record or {}).get("reason", "no backup was kept")
        raise BackupUnusable(f"no byte-exact backup ({reason})")
    file = Path(folder or "") / record["file"]
    if not folder or not file.is_file():
        raise BackupUnusable("its backup is gone (pruned or deleted)")
    if record["kind"] == "copy":
        if sha256_file(str(file)) != sha256:
            raise BackupUnusable("its backup copy is corrupt (checksum differs)")
    else:
        _read_regions(file)
    return file


def rebuild(tmp: str, path: str, fmt: str | None, backup: Path, record: dict[str, Any]) -> None:
    """Write the original file into ``tmp``: the backup copy, or old regions + current audio."""
    try:
        if record["kind"] == "copy":
            shutil.copyfile(backup, tmp)
            return
        head, tail, patches = _read_regions(backup)
        where = split(path, fmt)
        with open(tmp, "wb") as out:
            out.write(head)
            for block in payload_blocks(path, where, patches):
                out.write(block)
            out.write(tail)
    except NoRegions as err:
        raise BackupUnusable(f"its audio layout changed since the export ({err})") from err
