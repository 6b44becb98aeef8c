"""`defkit convert`: Dockerfile -> .def with Docker's semantics, and .def -> Dockerfile.

Library functions return a `Conversion` (text plus positioned `Note`s); they never print.

    convert_dockerfile(text, path, *, build_args=None, target=None, arch=None) -> Conversion
    convert_deffile(text, path) -> Conversion
"""

from __future__ import annotations

from defkit.convert.from_dockerfile import convert_dockerfile
from defkit.convert.notes import Conversion, ConvertError, Note
from defkit.convert.to_dockerfile import convert_deffile

__all__ = ["Conversion", "ConvertError", "Note", "convert_deffile", "convert_dockerfile"]
