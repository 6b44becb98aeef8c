"""Copy a (possibly multi-GB) file into the SIF being written while hashing it.

The copy and the hash run side by side: the kernel copies with `copy_file_range` (no trip through
Python; a reflink on file systems that support it) while a thread feeds the source to sha256,
which releases the GIL. Both read the same pages, so the file is read from disk once.
Where `copy_file_range` is unavailable (other kernels, some file system pairs) a chunked
`readinto`/`pwrite` loop takes over.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

CHUNK = 8 * 1024 * 1024
_FALLBACK_ERRNOS = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}


def copy_and_hash(src_path: str, dst_fd: int, dst_offset: int, hasher: Any | None) -> int:
    """Copy `src_path` to `dst_fd` at `dst_offset`; update `hasher` (if any) with its bytes.

    Returns the number of bytes copied. OSError propagates (from either side).
    """
    failures: list[BaseException] = []
    thread = None
    if hasher is not None:
        thread = threading.Thread(target=_hash_file, args=(src_path, hasher, failures))
        thread.start()
    try:
        with open(src_path, "rb") as src:
            copied = _copy(src.fileno(), dst_fd, dst_offset)
    finally:
        if thread is not None:
            thread.join()
    if failures:
        raise failures[0]
    return copied


def _copy(src_fd: int, dst_fd: int, dst_offset: int) -> int:
    copied = 0
    if hasattr(os, "copy_file_range"):
        try:
            while True:
                n = os.copy_file_range(src_fd, dst_fd, CHUNK * 8, copied, dst_offset + copied)
                if n == 0:
                    return copied
                copied += n
        except OSError as exc:
            if exc.errno not in _FALLBACK_ERRNOS:
                raise
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = os.preadv(src_fd, [buf], copied)
        if n == 0:
            return copied
        written = 0
        while written < n:
            written += os.pwrite(dst_fd, view[written:n], dst_offset + copied + written)
        copied += n


def _hash_file(path: str, hasher: Any, failures: list[BaseException]) -> None:
    try:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        with open(path, "rb", buffering=0) as src:
            while True:
                n = src.readinto(buf)
                if not n:
                    return
                hasher.update(view[:n])
    except BaseException as exc:  # handed to the copying thread to raise
        failures.append(exc)
