"""``python -m symgrad.cache``: look at and tidy the kernel cache (in the spirit of ``theano-cache``).

Commands:

- ``info``: where the cache is, whether it is used, and what it holds (this environment's kernels
  and plans, other environments' folders, files of older layouts), with sizes;
- ``purge [--older-than DAYS]``: remove what can never load again (other symgrad, numba, numpy or
  Python versions, older layouts) and this environment's entries unused for DAYS (default:
  ``SYMGRAD_CACHE_MAX_AGE_DAYS``, 30) — what the automatic daily cleanup does, now and without
  its one-day grace for other environments;
- ``clear``: remove everything symgrad wrote there (kernels compile again when next needed).

Only files symgrad wrote are ever removed: a ``SYMGRAD_CACHE_DIR`` pointing at a folder with other
files in it keeps them.

>>> import io, contextlib
>>> with contextlib.redirect_stdout(io.StringIO()) as out:
...     status = main(["info"])
>>> status, out.getvalue()[:22]
(0, 'symgrad kernel cache: ')
"""
from __future__ import annotations

import argparse
import datetime
import os
import stat
import sys

from .backend.numba import cachedir
from .config import config


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def info(out=None) -> None:
    """Print where the cache is and what it holds (to ``out``, default standard output)."""
    out = out or sys.stdout
    root = cachedir.cache_dir()
    print(f"symgrad kernel cache: {root}", file=out)
    if not root.exists():
        print("  (not created yet: the first compiled kernel creates it, private to this user)", file=out)
        return
    problem = cachedir.untrusted_because(root)
    mode = stat.S_IMODE(os.stat(root).st_mode)
    print(f"  folder mode {mode:o}; " + (f"NOT USED: it {problem} (kernels compile in memory)" if problem
                                        else "used (owned by this user, writable by no one else)"), file=out)
    env = cachedir.environment()
    summary = cachedir.summarize(root)
    current, other, legacy = summary.current, summary.other, summary.legacy
    print(f"  this environment: {cachedir.environment_dir().name} (symgrad {env['symgrad']}, numba {env['numba']}, "
          f"numpy {env['numpy']}, Python {env['python'].split()[0]})", file=out)
    print(f"    {current.kernels} kernels, {current.plans} plans, {current.files} files, {_size(current.bytes)}; "
          f"{current.unused} entries unused for over {config.cache_max_age_days:g} days", file=out)
    print(f"  other environments: {other.folders} folders, {other.files} files, {_size(other.bytes)} "
          "(they never load here)", file=out)
    if legacy.files:
        print(f"  older layout: {legacy.files} files, {_size(legacy.bytes)}", file=out)
    total_files = current.files + other.files + legacy.files
    print(f"  total: {total_files} files, {_size(current.bytes + other.bytes + legacy.bytes)}", file=out)
    stamp = root / cachedir.CLEANUP_STAMP
    last = (datetime.datetime.fromtimestamp(stamp.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            if stamp.exists() else "never")
    print(f"  automatic cleanup: at most once a day (last: {last}); removes entries unused for "
          f"{config.cache_max_age_days:g} days (SYMGRAD_CACHE_MAX_AGE_DAYS) and other environments' "
          "folders unused for a day", file=out)


def main(argv=None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m symgrad.cache", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="where the cache is and what it holds")
    purge = commands.add_parser("purge", help="remove entries that can never load again, and unused ones")
    purge.add_argument("--older-than", type=float, metavar="DAYS", default=None,
                       help="remove this environment's entries unused for DAYS "
                            f"(default {config.cache_max_age_days:g}; 0: all of them)")
    commands.add_parser("clear", help="remove everything symgrad wrote in the cache folder")
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
        return 0
    root = cachedir.cache_dir()
    if root.exists() and cachedir.untrusted_because(root):
        print(f"symgrad: {root} {cachedir.untrusted_because(root)}; not touching it", file=sys.stderr)
        return 1
    if args.command == "purge":
        if args.older_than is not None and args.older_than < 0:
            parser.error(f"--older-than must be >= 0 days, got {args.older_than:g}")
        removed = cachedir.purge(root, args.older_than)
    else:
        removed = cachedir.clear(root)
    print(f"removed {removed.files} files, {_size(removed.bytes)} from {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
