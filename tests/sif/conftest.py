"""The busybox tree and its squashfs, defined once in tests/sif/helpers.py."""

from __future__ import annotations

from tests.sif.helpers import rootfs, squashfs

__all__ = ["rootfs", "squashfs"]
