"""`defkit convert`: Dockerfile -> .def with Docker's semantics, and .def -> Dockerfile.

Library functions return a `Conversion` (text plus positioned `Note`s); they never print.

    convert_dockerfile(text, path, *, build_args=None, target=None, arch=None, ...) -> Conversion
    convert_deffile(text, path) -> Conversion

The names are imported when first used (PEP 562), so that converting a Dockerfile does not load
the .def -> Dockerfile direction, and the other way round.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from defkit.convert.from_dockerfile import convert_dockerfile
    from defkit.convert.notes import Conversion, ConvertError, Note
    from defkit.convert.to_dockerfile import convert_deffile

__all__ = ["Conversion", "ConvertError", "Note", "convert_deffile", "convert_dockerfile"]

_MODULES = {
    "Conversion": "defkit.convert.notes",
    "ConvertError": "defkit.convert.notes",
    "Note": "defkit.convert.notes",
    "convert_deffile": "defkit.convert.to_dockerfile",
    "convert_dockerfile": "defkit.convert.from_dockerfile",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)
