"""Canaries for the attack tests: host files outside every build tree, and proof they were left alone.

An attack test builds something hostile and then asserts that nothing outside the build's own
temporary tree was created, modified (content, mode, owner, times) or deleted. `Canary` plants a
small tree of the kinds of file an escape aims at (a plain file, a would-be setuid binary, a
directory, a symlink) owned by the user the build runs as, so the attack *would* succeed if the
engine let it through, and compares every `lstat` field and the content afterwards.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from dataclasses import dataclass, field

Entry = tuple[int, int, int, int, int, str]  # mode, uid, gid, size, mtime_ns, content or target


def snapshot(root: pathlib.Path) -> dict[str, Entry]:
    """Every entry below `root` (root included) with its mode, owner, size, mtime and content."""
    found: dict[str, Entry] = {}
    for directory, dirs, files, dir_fd in os.fwalk(root, follow_symlinks=False):
        for name in [*dirs, *files, ""] if directory == str(root) else [*dirs, *files]:
            rel = os.path.relpath(os.path.join(directory, name), root) if name else "."
            info = os.stat(name or ".", dir_fd=dir_fd, follow_symlinks=False)
            if os.path.islink(os.path.join(directory, name)):
                content = "-> " + os.readlink(name, dir_fd=dir_fd)
            elif name and os.path.isfile(os.path.join(directory, name)):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
                with os.fdopen(fd, "rb") as f:
                    content = hashlib.sha256(f.read()).hexdigest()
            else:
                content = ""
            found[rel] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns,
                          content)
    return found


@dataclass
class Canary:
    """A planted tree outside the build; `changes()` lists what differs from when it was planted."""

    root: pathlib.Path
    before: dict[str, Entry] = field(default_factory=dict)

    @property
    def file(self) -> pathlib.Path:
        return self.root / "secret.txt"

    @property
    def binary(self) -> pathlib.Path:
        return self.root / "bin" / "tool"

    @property
    def directory(self) -> pathlib.Path:
        return self.root / "dir"

    @classmethod
    def plant(cls, root: pathlib.Path, uid: int = 0, gid: int = 0) -> Canary:
        root.mkdir(parents=True)
        (root / "secret.txt").write_text("canary: do not touch\n")
        os.chmod(root / "secret.txt", 0o600)
        (root / "bin").mkdir()
        (root / "bin" / "tool").write_bytes(b"#!/bin/sh\necho canary\n")
        os.chmod(root / "bin" / "tool", 0o755)
        (root / "dir").mkdir()
        (root / "dir" / "inner").write_text("inner\n")
        os.symlink("secret.txt", root / "link")
        for path in [root, *root.rglob("*")]:
            os.lchown(path, uid, gid)
        os.utime(root / "secret.txt", ns=(1_000_000_000, 1_000_000_000))
        canary = cls(root)
        canary.before = snapshot(root)
        return canary

    def changes(self) -> list[str]:
        """One line per created, deleted or changed entry; empty when untouched."""
        after = snapshot(self.root)
        lines = [f"created {name}" for name in sorted(after.keys() - self.before.keys())]
        lines += [f"deleted {name}" for name in sorted(self.before.keys() - after.keys())]
        lines += [f"changed {name}: {self.before[name]} -> {after[name]}"
                  for name in sorted(self.before.keys() & after.keys())
                  if self.before[name] != after[name]]
        return lines

    def assert_untouched(self) -> None:
        changes = self.changes()
        assert not changes, "the host canary was touched:\n" + "\n".join(changes)
