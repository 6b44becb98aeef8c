"""SIF (Singularity Image Format) images: the on-disk layout, a writer and a reader.

`write_sif` builds an image the way `apptainer build` lays it out, but reproducibly;
`read_sif` opens one for inspection and verification.
"""

from __future__ import annotations

from defkit.sif.reader import SifFormatError, SifImage, read_sif
from defkit.sif.writer import write_sif

__all__ = ["SifFormatError", "SifImage", "read_sif", "write_sif"]
