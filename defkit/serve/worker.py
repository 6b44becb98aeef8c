"""One remote build, as the child process `defkit serve --run-job JOB` runs it.

The server writes the job (`job.json`) and the definition into the build's work directory and
starts this in its own process group; everything here happens inside that directory: the
context is unpacked into `context/`, the definition is checked (`policy`), and defkit's native
engine builds it into `image.sif`, its progress going to the callback (the CLI prints it, the
server streams the lines to the client). The build cache is the server's
(`$DEFKIT_CACHE_DIR`, set by the server), so a repeated build is a cache hit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from defkit.engine.context import Notice, ProgressCallback
from defkit.errors import BuildError
from defkit.safepath import Root, check_path

JOB_FILE = "job.json"
DEFINITION_FILE = "build.def"
CONTEXT_DIR = "context"
OUTPUT_FILE = "image.sif"
TEMP_DIR = "tmp"


@dataclass(frozen=True)
class Job:
    work_dir: str
    working_dir: str = "/"  # the client's cwd: relative %files sources resolve there
    context_archive: Optional[str] = None
    arch: str = ""
    max_context_size: int = 1024**3
    local_bases: Sequence[str] = ()
    cache_to: Optional[str] = None
    insecure: bool = False
    #: The client's SOURCE_DATE_EPOCH (defkit's `sourceDateEpoch`); None: the server's own.
    source_date_epoch: Optional[int] = None

    def save(self) -> str:
        path = os.path.join(self.work_dir, JOB_FILE)
        document = {**asdict(self), "local_bases": list(self.local_bases)}
        with open(path, "x", encoding="utf-8") as f:
            json.dump(document, f)
        return path

    @classmethod
    def load(cls, path: str) -> Job:
        with open(path, encoding="utf-8") as f:
            document: dict[str, Any] = json.load(f)
        return cls(**{**document, "local_bases": tuple(document.get("local_bases") or ())})


def _def_dir(context_root: str, working_dir: str) -> str:
    """The client's working directory inside the context (made if the context lacks it)."""
    cpath = "/" + working_dir.strip("/")
    check_path(cpath)
    with Root(context_root) as root:
        root.makedirs(cpath)
    return os.path.normpath(os.path.join(context_root, cpath.lstrip("/")))


def run_job(job: Job, progress: ProgressCallback) -> str:
    """Unpack, check and build; the path of the SIF written. DefkitError on failure."""
    from defkit.cache.hook import CacheOptions
    from defkit.engine.engine import build
    from defkit.parser import parse_file
    from defkit.serve.context_archive import unpack_context
    from defkit.serve.policy import check_remote_definition

    context_root = os.path.join(job.work_dir, CONTEXT_DIR)
    os.makedirs(context_root, exist_ok=True)
    if job.context_archive is not None:
        progress(Notice("unpacking the build context"))
        unpack_context(job.context_archive, context_root, job.max_context_size)
        os.unlink(job.context_archive)  # the work directory's own link to it
    def_dir = _def_dir(context_root, job.working_dir)
    def_path = os.path.join(job.work_dir, DEFINITION_FILE)
    check_remote_definition(parse_file(def_path), context_root, def_dir, job.local_bases)
    temp = os.path.join(job.work_dir, TEMP_DIR)
    os.makedirs(temp, exist_ok=True)
    output = os.path.join(job.work_dir, OUTPUT_FILE)
    # Absolute %files sources are where the client's archive stores them: under the context.
    result = build(def_path, output=output, arch=job.arch or None, context_dir=def_dir,
                   files_root=context_root,
                   workdir=temp, cache=CacheOptions(cache_to=job.cache_to, insecure=job.insecure),
                   insecure=job.insecure, source_date_epoch=job.source_date_epoch,
                   progress=progress)
    if not os.path.isfile(result.output):
        raise BuildError("the build wrote no image")
    return result.output
