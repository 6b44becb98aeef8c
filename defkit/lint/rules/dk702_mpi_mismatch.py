"""Checks that the image's MPI is the family and major version the site launches.

## What it does
With a site profile that gives `mpi` (`family`, `version`), finds the MPI built or installed in
the image (`openmpi-4.1.6.tar.bz2`, `mpich-4.2.1.tar.gz`, `OMPI_VERSION=`, packages such as
`libopenmpi-dev` or `libmpich-dev`, or an `openmpi`/`mpich` base image) and reports it when its
family differs from the site's, or when the major versions differ. The MPICH family shares one
ABI (MPICH, Intel MPI, Cray MPICH, MVAPICH2: `libmpi.so.12`), so those are one family here.
Quiet without a site profile or without `mpi` in it.

## Why it matters
In the hybrid model the host's `srun --mpi=pmix` or `mpirun` starts the ranks
and the image's MPI library wires them up. With another family, or Open MPI 4 against 5, the job
starts N copies that each believe they are rank 0 of 1, or aborts in `MPI_Init`.

## Default severity
`error`: the image cannot run its MPI programs across nodes on this site.

## Example
With `mpi: {family: openmpi, version: "5.0.3"}` in the site profile:
```
%post
    curl -fsSLO https://download.open-mpi.org/release/open-mpi/v4.1/openmpi-4.1.6.tar.bz2
```

## Use instead
```
%post
    curl -fsSLO https://download.open-mpi.org/release/open-mpi/v5.0/openmpi-5.0.3.tar.bz2
```
"""

from __future__ import annotations

from collections.abc import Iterator

from defkit.lint.context import LintContext
from defkit.lint.problem import Problem, Severity
from defkit.lint.rules._site import mpi
from defkit.site.profile import MPICH_ABI
from defkit.site.versions import version_text

CODE = "DK702"
NAME = "mpi-mismatch"
SEVERITY: Severity = "error"
OPTIONS: dict[str, object] = {}
FIXABLE = False


def _abi(family: str) -> str:
    return "mpich" if family in MPICH_ABI else family


def check(ctx: LintContext) -> Iterator[Problem]:
    site = ctx.settings.site
    if site is None or site.mpi_family is None:
        return
    found = mpi(ctx)
    if found is None:
        return
    host = site.mpi_family + (f" {site.mpi_version}" if site.mpi_version else "")
    if _abi(found.what) != _abi(site.mpi_family):
        yield Problem(
            found.span, f"the image has {found.what}, the site launches with {host}"
        )
        return
    host_version = site.version("mpi_version")
    # MPICH's ABI (libmpi.so.12) has held since MPICH 3.1: majors differ without breaking it.
    if found.version is None or host_version is None or _abi(found.what) == "mpich":
        return
    if found.version[0] != host_version[0]:
        yield Problem(
            found.span,
            f"the image has {found.what} {version_text(found.version)}, the site launches with "
            f"{host}: the major versions must match",
        )
