"""Errors of the media plane."""

from __future__ import annotations

from vcc.errors import VccError


class MediaError(VccError):
    """A media request that cannot be carried out (unknown contact or leg, bad SDP, unknown flow):
    a one-line message naming what and for which contact. The gateway goes on serving."""
