"""Which NVIDIA driver a CUDA toolkit needs.

Source: NVIDIA, *CUDA Toolkit Release Notes*, Table 3 "CUDA Toolkit and Corresponding Driver
Versions" (Linux x86_64 column: the driver each toolkit release ships with and requires for every
feature) and Table 2 "CUDA Toolkit and Minimum Required Driver Version for CUDA Minor Version
Compatibility" (the floor below which no toolkit of that major version runs at all).
https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html#cuda-major-component-versions
"""

from __future__ import annotations

from typing import Optional

from defkit.site.versions import Version

#: Toolkit (major, minor) -> minimum Linux driver of its general-availability release (Table 3).
TOOLKIT_DRIVER: dict[tuple[int, int], str] = {
    (9, 0): "384.81",
    (9, 1): "387.26",
    (9, 2): "396.26",
    (10, 0): "410.48",
    (10, 1): "418.39",
    (10, 2): "440.33",
    (11, 0): "450.36.06",
    (11, 1): "455.23",
    (11, 2): "460.27.03",
    (11, 3): "465.19.01",
    (11, 4): "470.42.01",
    (11, 5): "495.29.05",
    (11, 6): "510.39.01",
    (11, 7): "515.43.04",
    (11, 8): "520.61.05",
    (12, 0): "525.60.13",
    (12, 1): "530.30.02",
    (12, 2): "535.54.03",
    (12, 3): "545.23.06",
    (12, 4): "550.54.14",
    (12, 5): "555.42.02",
    (12, 6): "560.28.03",
    (12, 8): "570.26",
    (12, 9): "575.51.03",
    (13, 0): "580.65.06",
}

#: Toolkit major -> the driver floor of CUDA minor version compatibility (Table 2). CUDA 10 and
#: older have no minor version compatibility: their Table 3 driver is the floor.
MINOR_COMPATIBILITY_DRIVER: dict[int, str] = {
    11: "450.80.02",
    12: "525.60.13",
    13: "580.65.06",
}


#: tensorflow/tensorflow:X.Y.Z-gpu -> the CUDA it is built with (tensorflow.org, "Tested build
#: configurations", https://www.tensorflow.org/install/source#gpu).
TENSORFLOW_CUDA: dict[str, str] = {
    "2.11": "11.2", "2.12": "11.8", "2.13": "11.8", "2.14": "11.8", "2.15": "12.2",
    "2.16": "12.3", "2.17": "12.3", "2.18": "12.5",
}  # fmt: skip


def required_driver(cuda: Version, *, minor_compatibility: bool) -> Optional[str]:
    """The lowest driver that runs CUDA `cuda`, as NVIDIA writes it ("450.36.06"); None when the
    table does not know the release.

    With `minor_compatibility`, a 12.x toolkit runs on any driver from 525.60.13 on (without PTX
    JIT of newer PTX); without it, the release's own driver is needed."""
    if len(cuda) < 2:
        return None
    if minor_compatibility and cuda[0] in MINOR_COMPATIBILITY_DRIVER:
        return MINOR_COMPATIBILITY_DRIVER[cuda[0]]
    exact = TOOLKIT_DRIVER.get((cuda[0], cuda[1]))
    if exact is not None:
        return exact
    # A release newer than the table (12.7 was never published; a 12.10 would be): the newest
    # known release of the same major is a lower bound, so the check still says something true.
    known = [minor for major, minor in TOOLKIT_DRIVER if major == cuda[0] and minor < cuda[1]]
    return TOOLKIT_DRIVER[(cuda[0], max(known))] if known else None
