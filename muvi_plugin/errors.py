"""The runtime's errors: one base class, so every front end can catch one thing and show one line.

`muvi_plugin.media.MediaError` (bad input media) is a `MuviError` too, so a front end catches `MuviError`
alone and shows its message.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MuviError(Exception):
    """Base of the runtime's own errors; the message names the file (or setting) and the problem."""


class BundleError(MuviError):
    """A model bundle that is missing, malformed, corrupt, or that cannot run on the asked device."""


class ChecksumError(BundleError):
    """A bundle graph that is missing or whose sha256 differs from the manifest's, or a manifest whose
    bundle id differs from the one its content gives: a corrupt or edited bundle."""


class Cancelled(MuviError):
    """The caller's cancel flag was set; nothing was written."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


def load_library(name: str, needed_by: str) -> ModuleType:
    """Import `name` on first use, for `needed_by` ("mastering", "the tempo plan"): a library only it needs.

    Raises:
        MuviError: It cannot be imported here, typically a SciPy built for a newer NumPy than the host's
            (SciPy 1.16+ in Blender 4.2's NumPy 1.24: "No module named 'numpy.exceptions'"): one line.
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        import numpy

        raise MuviError(
            f"{needed_by} cannot load {name} with NumPy {numpy.__version__} ({error}); "
            "install versions of SciPy, pyloudnorm and pedalboard that support this NumPy"
        ) from None
