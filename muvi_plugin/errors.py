"""The runtime's errors: one base class, so every front end can catch one thing and show one line.

`muvi_plugin.media.MediaError` (bad input media) is a `MuviError` too, so a front end catches `MuviError`
alone and shows its message.
"""

from __future__ import annotations


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
