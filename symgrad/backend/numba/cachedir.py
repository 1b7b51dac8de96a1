"""The kernel cache folder: where it is, whether it can be trusted, and how it stays small.

Layout (everything symgrad writes; ``python -m symgrad.cache`` reads and tidies it)::

    <root>/                          private (0700) when symgrad creates it
        CACHEDIR.TAG                 the cache-directory tag (backup tools skip the folder)
        last-cleanup                 its modification time: when the automatic cleanup last ran
        env-<16 hex>/                one folder per environment (symgrad source, numba, numpy, Python)
            environment.json         the versions, for ``info``; its access time: when last used
            symgrad_kernel_<key>.py  a generated module; its access time: when last loaded
            symgrad_plan_<key>.json  what was generated for one graph; access time as above
            __pycache__/             numba's compiled files of the kernels (``symgrad_kernel_<key>.*``)

The root is ``config.cache_dir`` (``SYMGRAD_CACHE_DIR``), else ``$XDG_CACHE_HOME/symgrad`` or
``~/.cache/symgrad``. Loading a cached kernel runs a module and unpickles numba's files, so the
root is only used when it is a folder owned by this user that nobody else can write; otherwise
kernels compile in memory (see :func:`open_environment`). This covers the kernels, not the few
jitted helpers of ``helpers.py``: numba caches those where it keeps any package's files (the
package's ``__pycache__`` or ``NUMBA_CACHE_DIR``), as for every other numba user.

"Last used" is a file's *access* time, set explicitly when an entry is loaded: the modification
time of a kernel module must not change (numba's index is stamped with it), and an explicit
``utime`` works on filesystems mounted ``noatime`` too. A kernel of another environment can never
load in this one, so whole environment folders are dropped once unused for a day (a day, not at
once: a second installation sharing the folder keeps its kernels while it is in use); in the
current one, entries unused for ``config.cache_max_age_days`` (default 30) are removed. The
cleanup runs at most once a day, from the first kernel load of a process.

>>> environment_dir().name.startswith(ENV_PREFIX)
True
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numba
import numpy as np

from ...config import config
from ... import version

ENV_PREFIX = "env-"
ENVIRONMENT_FILE = "environment.json"
CLEANUP_STAMP = "last-cleanup"
TAG_FILE = "CACHEDIR.TAG"  # the cache-directory tagging convention: backup tools skip the folder
TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# symgrad's kernel cache: python -m symgrad.cache\n"
KERNEL_PREFIX = "symgrad_kernel_"
PLAN_PREFIX = "symgrad_plan_"
# exactly the names symgrad writes: nothing else in the folder is ever removed
ENV_NAME = re.compile(r"env-[0-9a-f]{16}")
KERNEL_NAME = re.compile(r"symgrad_kernel_[0-9a-f]{24}\.py")
PLAN_NAME = re.compile(r"symgrad_plan_[0-9a-f]{32}\.json")
COMPILED_NAME = re.compile(r"symgrad_kernel_([0-9a-f]{24})\..+")  # numba's files of a kernel module
DAY_S = 86400.0
# an environment folder of another installation is kept while it was used within this time
OTHER_ENVIRONMENT_GRACE_S = DAY_S


class UntrustedCacheError(OSError):
    """The cache folder exists but others could have written into it."""


def cache_dir() -> Path:
    """``config.cache_dir`` / ``SYMGRAD_CACHE_DIR``, else the per-user cache folder."""
    if config.cache_dir:
        return Path(config.cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symgrad"


@lru_cache(maxsize=1)
def environment() -> dict:
    """What a compiled kernel depends on besides its source: versions, and a hash of symgrad's own
    source (any change to the rewrites or the code generator must produce new kernels and plans)."""
    package = Path(__file__).resolve().parents[2]
    return {"symgrad": version.__version__, "numba": numba.__version__, "numpy": np.__version__,
            "python": sys.version, "source": source_digest(package)}


def environment_key() -> str:
    """The environment as one string (part of every kernel's and plan's hash)."""
    env = environment()
    return "|".join([env["symgrad"], env["numba"], env["numpy"], env["python"], env["source"]])


def source_digest(package: Path) -> str:
    """A hash of every ``.py`` file under ``package`` (paths and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def environment_dir() -> Path:
    """This environment's folder under the cache root (not created here)."""
    return cache_dir() / (ENV_PREFIX + hashlib.sha256(environment_key().encode()).hexdigest()[:16])


# environment folders checked (and created) by this process: configured path -> resolved path
_opened: dict = {}


def open_environment() -> Path:
    """This environment's folder, created private if missing, after checking that it can be trusted.

    Raises ``OSError`` when it cannot be created, and :class:`UntrustedCacheError` when the root or
    the folder is not a directory owned by this user, or group/world-writable, or the root is a
    symlink another user owns. The root is resolved once checked, so a link changed later is not
    followed. The first call of a process for a root also runs the daily cleanup when it is due;
    later calls only mark the environment as used (a long-running process keeps it alive) and
    create it again if it was removed meanwhile (``python -m symgrad.cache clear``)."""
    configured = environment_dir()
    directory = _opened.get(configured)
    if directory is not None:
        if mark_used(directory / ENVIRONMENT_FILE):
            return directory
        _opened.pop(configured, None)  # removed under this process: check and create it again
    root = configured.parent
    if root.is_symlink():
        owner = os.lstat(root).st_uid
        if hasattr(os, "geteuid") and owner not in (os.geteuid(), 0):
            raise UntrustedCacheError(f"{root} is a symlink owned by another user (uid {owner})")
    _private_folder(root)
    root = root.resolve(strict=True)
    directory = root / configured.name
    _private_folder(directory)
    if not (root / TAG_FILE).exists():
        atomic_write(root / TAG_FILE, TAG)
    marker = directory / ENVIRONMENT_FILE
    if not marker.exists():
        atomic_write(marker, json.dumps(environment(), indent=1))
    mark_used(marker)
    _opened[configured] = directory
    cleanup_if_due(root)
    return directory


def _private_folder(path: Path) -> None:
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:  # parents missing: they get the usual mode, the cache folder 0700
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
    problem = untrusted_because(path)
    if problem:
        hint = " (chmod go-w it if it is yours)" if "writable" in problem else ""
        raise UntrustedCacheError(f"{path} {problem}{hint}")


def untrusted_because(path: Path) -> str:
    """Why a cache folder must not be used ('' when it may): loading from it runs its contents."""
    st = os.stat(path)  # follows a symlink: the folder it leads to is what gets read
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return f"is owned by another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


def mark_used(path: Path) -> bool:
    """Set ``path``'s access time to now, keeping its modification time (numba's stamp); False
    when it is gone (an entry removed meanwhile is rebuilt when next needed).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     os.utime(f.name, (0, 0))
    ...     mark_used(Path(f.name)), os.stat(f.name).st_mtime, os.stat(f.name).st_atime > 0
    (True, 0.0, True)
    """
    try:
        stamps = path.stat()
        os.utime(path, ns=(time.time_ns(), stamps.st_mtime_ns))
        return True
    except OSError:
        return False


def last_used(path: Path) -> float:
    """When ``path`` was last used: its access time (set by :func:`mark_used`), or its modification
    time when that is later (a file written and never loaded since)."""
    stamps = path.stat()
    return max(stamps.st_atime, stamps.st_mtime)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --- keeping it small ---------------------------------------------------------------------------
@dataclass
class Removed:
    """What a cleanup removed."""

    files: int = 0
    bytes: int = 0
    paths: list = field(default_factory=list)

    def add(self, path: Path) -> None:
        """Remove ``path`` (a file or a whole folder) and count it; missing or busy: skipped."""
        try:
            files, size = _measure(path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            return
        self.files += files
        self.bytes += size
        self.paths.append(path)


def _files(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every file (not folder) under ``folder`` with its ``lstat``; files removed meanwhile
    (numba's temporary files) are skipped."""
    for path in folder.rglob("*"):
        try:
            stamps = path.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(stamps.st_mode):
            yield path, stamps


def _measure(path: Path) -> tuple[int, int]:
    if path.is_dir() and not path.is_symlink():
        sizes = [stamps.st_size for _, stamps in _files(path)]
        return len(sizes), sum(sizes)
    return 1, path.lstat().st_size


def _entries(folder: Path) -> list:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def cleanup_if_due(root: Path) -> None:
    """Run :func:`cleanup` when the last run (any process's) is a day old or more."""
    stamp = root / CLEANUP_STAMP
    try:
        if time.time() - stamp.stat().st_mtime < DAY_S:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        stamp.touch()  # first: concurrent processes see it and do not clean up as well
    except OSError:
        return
    cleanup(root, max_age_s=config.cache_max_age_days * DAY_S)


def cleanup(root: Path, max_age_s: float, other_grace_s: float = OTHER_ENVIRONMENT_GRACE_S) -> Removed:
    """Remove entries unused for ``max_age_s`` in this environment's folder, other environments'
    folders unused for ``other_grace_s``, and files of symgrad versions without environment folders.
    Only names symgrad writes are touched (``ENV_NAME``, ``KERNEL_NAME``, ...)."""
    removed, now = Removed(), time.time()
    current = environment_dir().name
    for entry in _entries(root):
        if entry.name == current:
            _clean_environment(entry, now - max_age_s, now - DAY_S, removed)
        elif is_environment(entry):
            try:
                used = last_used(entry / ENVIRONMENT_FILE)
            except OSError:
                continue
            if used < now - other_grace_s:
                removed.add(entry)
        elif is_legacy(entry):
            removed.add(entry)
    return removed


def _clean_environment(directory: Path, unused_before: float, stale_before: float, removed: Removed) -> None:
    compiled = directory / "__pycache__"
    for entry in _entries(directory):
        try:
            used = last_used(entry)
        except OSError:
            continue
        if PLAN_NAME.fullmatch(entry.name) and used < unused_before:
            removed.add(entry)
        elif KERNEL_NAME.fullmatch(entry.name) and used < unused_before:
            removed.add(entry)  # its numba files go with it: they cannot load without the module
            for data in compiled.glob(entry.stem + ".*"):
                removed.add(data)
        elif entry.name.startswith((KERNEL_PREFIX, PLAN_PREFIX)) and entry.name.endswith(".tmp") \
                and used < stale_before:  # left by a process killed mid-write
            removed.add(entry)
    for entry in _entries(compiled):  # numba's files whose module is gone, or its stale temporaries
        match = COMPILED_NAME.fullmatch(entry.name)
        try:
            stale = last_used(entry) < stale_before
        except OSError:
            continue
        if match and stale and not (directory / f"{KERNEL_PREFIX}{match.group(1)}.py").exists():
            removed.add(entry)


def is_environment(entry: Path) -> bool:
    """An environment folder symgrad wrote (its name and its ``environment.json``)."""
    return bool(ENV_NAME.fullmatch(entry.name)) and (entry / ENVIRONMENT_FILE).is_file()


def is_legacy(entry: Path) -> bool:
    """A file that symgrad 0.1 before environment folders wrote into the root."""
    if KERNEL_NAME.fullmatch(entry.name) or PLAN_NAME.fullmatch(entry.name):
        return True
    if entry.name == "__pycache__" and entry.is_dir() and not entry.is_symlink():
        names = [p.name for p in _entries(entry)]
        return bool(names) and all(COMPILED_NAME.fullmatch(n) for n in names)
    return False


def clear(root: Path | None = None) -> Removed:
    """Remove every entry symgrad wrote under ``root`` (other files there are left alone)."""
    root = root or cache_dir()
    removed = Removed()
    for entry in _entries(root):
        if is_environment(entry) or is_legacy(entry) or entry.name in (CLEANUP_STAMP, TAG_FILE):
            removed.add(entry)
    _opened.clear()
    return removed


def purge(root: Path | None = None, older_than_days: float | None = None) -> Removed:
    """Remove what can never load again (other environments, old layouts) at once, and this
    environment's entries unused for ``older_than_days`` (default ``config.cache_max_age_days``)."""
    root = root or cache_dir()
    days = config.cache_max_age_days if older_than_days is None else older_than_days
    if not root.is_dir():
        return Removed()
    return cleanup(root, max_age_s=days * DAY_S, other_grace_s=0.0)


@dataclass
class Part:
    """Counts and sizes of one part of the cache, for ``info``."""

    folders: int = 0
    kernels: int = 0
    plans: int = 0
    files: int = 0
    bytes: int = 0
    unused: int = 0  # entries past the age limit


@dataclass
class Summary:
    """What the cache holds: this environment, the others, and files of the old flat layout."""

    current: Part = field(default_factory=Part)
    other: Part = field(default_factory=Part)
    legacy: Part = field(default_factory=Part)


def summarize(root: Path | None = None) -> Summary:
    """Count what the cache under ``root`` holds (entries vanishing meanwhile are skipped)."""
    root = root or cache_dir()
    out = Summary()
    current, limit = environment_dir().name, time.time() - config.cache_max_age_days * DAY_S
    for entry in _entries(root):
        if is_environment(entry):
            part = out.current if entry.name == current else out.other
            part.folders += 1
            for path, stamps in _files(entry):
                part.files += 1
                part.bytes += stamps.st_size
                kernel, plan = KERNEL_NAME.fullmatch(path.name), PLAN_NAME.fullmatch(path.name)
                if path.parent == entry and (kernel or plan):
                    part.kernels += bool(kernel)
                    part.plans += bool(plan)
                    part.unused += max(stamps.st_atime, stamps.st_mtime) < limit
        elif is_legacy(entry):
            try:
                files, size = _measure(entry)
            except OSError:
                continue
            out.legacy.files += files
            out.legacy.bytes += size
    return out
