"""A lock around the shift op's first build that never hangs.

``torch.utils.cpp_extension.load`` guards a build folder with an empty file, ``lock``, and waits for as long
as it exists. A build that is killed (Ctrl-C twice, an out-of-memory kill, a closed notebook) leaves it
behind, and every later import would wait forever. So stviz takes its own lock first,
``stviz-build.lock``, which records who holds it (process id, host, start time):

* a lock whose process is gone (same host), or that is older than a build can take, is stale: it is
  cleared, with a warning;
* while stviz holds its lock no other stviz build runs, so a leftover ``lock`` of torch's is stale too;
* a live lock is waited for, at most ``wait_seconds``; then :class:`BuildLockTimeout` names the lock file
  and how to clear it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

__all__ = ["BuildLockTimeout", "hold_lock", "LOCK_NAME", "TORCH_LOCK_NAME"]

LOCK_NAME = "stviz-build.lock"
TORCH_LOCK_NAME = "lock"  # torch.utils.file_baton.FileBaton's file in the build folder
WAIT_SECONDS = 600.0  # longest wait for another live build (a CUDA build takes a few minutes)
STALE_SECONDS = 3600.0  # no build takes this long: an older lock is left over


class BuildLockTimeout(TimeoutError):
    """Another build held the lock for longer than we wait."""


def _owner(lock: Path) -> dict:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):  # gone meanwhile, or killed between creating and writing it
        return {}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _stale_reason(lock: Path, stale_seconds: float) -> str | None:
    """Why ``lock`` is left over from a build that no longer runs, or None if it may still be running."""
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return "it is gone"
    if age > stale_seconds:
        return f"it is {age:.0f} s old, longer than a build can take ({stale_seconds:.0f} s)"
    owner = _owner(lock)
    pid = owner.get("pid")
    if owner.get("host") == socket.gethostname() and isinstance(pid, int) and not _process_alive(pid):
        return f"its build process {pid} is gone"
    return None


def _describe(lock: Path) -> str:
    owner = _owner(lock)
    if not owner:
        return "an unknown process"
    started = owner.get("started")
    since = f", started {time.time() - started:.0f} s ago" if isinstance(started, int | float) else ""
    return f"process {owner.get('pid')} on {owner.get('host')}{since}"


@contextlib.contextmanager
def hold_lock(
    build_dir: Path, wait_seconds: float = WAIT_SECONDS, stale_seconds: float = STALE_SECONDS
) -> Iterator[None]:
    """Hold ``build_dir``'s build lock for the duration of the ``with`` block (see the module docstring)."""
    lock = Path(build_dir) / LOCK_NAME
    torch_lock = Path(build_dir) / TORCH_LOCK_NAME
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            reason = _stale_reason(lock, stale_seconds)
            if reason is not None:
                warnings.warn(f"stviz: clearing the stale build lock {lock} ({reason})", RuntimeWarning, stacklevel=3)
                lock.unlink(missing_ok=True)
                continue
            if time.monotonic() >= deadline:
                raise BuildLockTimeout(
                    f"build lock {lock} is held by {_describe(lock)}; waited {wait_seconds:.0f} s. If no stviz "
                    f"build is running, delete it and torch's lock: rm -f {lock} {torch_lock}"
                ) from None
            time.sleep(0.2)
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}, f)
    try:
        torch_lock.unlink(missing_ok=True)  # we hold our lock, so no build is running: a torch lock is left over
        yield
    finally:
        lock.unlink(missing_ok=True)
