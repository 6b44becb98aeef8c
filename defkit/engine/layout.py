"""The base `/.singularity.d` layout every image gets after its bootstrap (Apptainer's runtime
contract: the action scripts the runtime executes and the env scripts they source).

The scripts live in `defkit/engine/templates/`; `make_base_env` writes them with Apptainer's modes.
Metadata written after %post (labels, runscript, environment, the def file) is in
`defkit.engine.layout_meta`; SCIF apps in `defkit.engine.layout_apps`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from defkit.model import Stage
from defkit.safepath import Root

if TYPE_CHECKING:
    from defkit.engine.agents.base import ImageConfig
    from defkit.engine.context import BuildContext

TEMPLATES = Path(__file__).resolve().parent / "templates"

SD = ".singularity.d"
BASE_DIRS = (f"{SD}/libs", f"{SD}/actions", f"{SD}/env", "dev", "proc", "root", "var/tmp", "tmp",
             "etc", "sys", "home")
#: Symlinks in `/` -> their targets (relative, so they work in any mount place).
ROOT_SYMLINKS = {
    "singularity": f"{SD}/runscript",
    ".run": f"{SD}/actions/run",
    ".exec": f"{SD}/actions/exec",
    ".test": f"{SD}/actions/test",
    ".shell": f"{SD}/actions/shell",
    "environment": f"{SD}/env/90-environment.sh",
}
#: Container path -> (template file, mode).
BASE_FILES = {
    "/etc/hosts": ("", 0o644),
    "/etc/resolv.conf": ("", 0o644),
    f"/{SD}/actions/exec": ("actions/exec", 0o755),
    f"/{SD}/actions/run": ("actions/run", 0o755),
    f"/{SD}/actions/shell": ("actions/shell", 0o755),
    f"/{SD}/actions/start": ("actions/start", 0o755),
    f"/{SD}/actions/test": ("actions/test", 0o755),
    f"/{SD}/env/01-base.sh": ("env/01-base.sh", 0o755),
    f"/{SD}/env/90-environment.sh": ("env/90-environment.sh", 0o755),
    f"/{SD}/env/95-apps.sh": ("env/95-apps.sh", 0o755),
    f"/{SD}/env/99-base.sh": ("env/99-base.sh", 0o755),
    f"/{SD}/env/99-runtimevars.sh": ("env/99-runtimevars.sh", 0o755),
    f"/{SD}/runscript": ("runscript", 0o755),
    f"/{SD}/startscript": ("startscript", 0o755),
}


def template(name: str) -> str:
    """The text of a template file ("" names an empty file)."""
    return (TEMPLATES / name).read_text(encoding="utf-8") if name else ""


def write_file(rootfs: str, path: str, content: str | bytes, mode: int) -> None:
    """Make container file `path` a new file holding `content` with `mode` (what was there is
    replaced, never written through: see `Root.write_file` for a symlink, FIFO or directory)."""
    with Root(rootfs) as root:
        root.write_file(path, content, mode)


def make_base_env(rootfs: str, *, overwrite: bool) -> None:
    """Write the base layout. `overwrite=False` (images that already have one, e.g. a localimage
    SIF) only adds what is missing; `True` rewrites every base file."""
    info = os.stat(rootfs)
    if not info.st_mode & 0o200:
        os.chmod(rootfs, info.st_mode | 0o200)
    with Root(rootfs) as root:
        for directory in BASE_DIRS:
            root.makedirs(directory)
        for name, target in ROOT_SYMLINKS.items():
            found = root.lstat(name)
            if found is not None and stat.S_ISLNK(found.st_mode):
                if os.readlink(name, dir_fd=root.fd) == target:
                    continue
            elif found is not None:
                continue  # a real file or directory of that name belongs to the image
            root.symlink(target, name)
        for path, (name, mode) in BASE_FILES.items():
            if not overwrite and root.exists(path):
                continue
            root.write_file(path, template(name), mode)


# --- the engine's entry points (implemented in layout_meta / layout_apps) ----------------------


def make_apps(rootfs: str, stage: Stage, *, src_dir: Optional[str] = None,
              files_root: Optional[str] = None) -> None:
    """Create the stage's SCIF apps before %post. Relative `%appfiles` sources are taken from
    `src_dir`, by default the current directory (where Apptainer takes them from); absolute
    ones from inside `files_root` when given (see `BuildContext.files_root`)."""
    from defkit.engine.layout_apps import create_apps

    create_apps(rootfs, stage, src_dir=src_dir if src_dir is not None else os.getcwd(),
                files_root=files_root)


def write_metadata(
    rootfs: str,
    stage: Stage,
    *,
    definition: str,
    ctx: BuildContext,
    image_config: Optional[ImageConfig] = None,
) -> None:
    """The metadata after %post (see `layout_meta.write_metadata`), warnings sent as events.

    `image_config` is accepted for symmetry: an OCI source's runscript, environment and labels
    were written by its agent at bootstrap, and %runscript/%environment/%labels apply on top."""
    from defkit.engine.context import Warning as WarningEvent
    from defkit.engine.layout_meta import write_metadata as write

    warnings = write(rootfs, stage, definition_text=definition,
                     source_date_epoch=ctx.source_date_epoch, arch=ctx.arch, force=ctx.force,
                     section_enabled=ctx.section_enabled, extra_build_labels=ctx.build_labels)
    for message in warnings:
        ctx.emit(WarningEvent(message))
