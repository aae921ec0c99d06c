"""Compression framing names: which framing a ``comp-lzo`` / ``compress`` directive selects (§6.4).

The config and the tlssession core choose the framing from these names; the datachannel core
adds and removes the framing bytes (``core/datachannel/compression.py``).
"""

from __future__ import annotations

import enum


class Framing(enum.StrEnum):
    """A compression framing mode (§6.4); a ``StrEnum``, so it reads as its name."""

    COMP_LZO = "comp-lzo"
    """``comp-lzo`` / ``compress lzo``: a 0xFA byte before the payload."""
    STUB = "stub"
    """``compress`` / ``compress stub`` / ``compress lz4``: 0xFB, the first byte moved last."""
    STUB_V2 = "stub-v2"
    """``compress stub-v2`` / ``compress lz4-v2``: only a leading 0x50 is escaped."""


COMP_LZO = Framing.COMP_LZO
STUB = Framing.STUB
STUB_V2 = Framing.STUB_V2
FRAMINGS = tuple(Framing)
"""The framing modes (the values of ``DataKeys.compression`` besides None)."""

# comp-lzo / compress directive (argument) -> framing, and whether it really compresses.
_COMP_LZO_ARGS = {"": True, "yes": True, "adaptive": True, "no": False}
_COMPRESS_ARGS: dict[str, tuple[Framing, bool]] = {
    "": (STUB, False),
    "stub": (STUB, False),
    "stub-v2": (STUB_V2, False),
    "lzo": (COMP_LZO, True),
    "lz4": (STUB, True),
    "lz4-v2": (STUB_V2, True),
}


def framing_of(directive: str) -> Framing:
    """The framing for ``comp-lzo ...`` / ``compress ...`` (e.g. ``"compress lz4-v2"``).

    Raises ``ValueError`` for anything else (``compress migrate`` is server-only).
    """
    name, _, arg = directive.strip().partition(" ")
    arg = arg.strip()
    if name == "comp-lzo" and arg in _COMP_LZO_ARGS:
        return COMP_LZO
    if name == "compress" and arg in _COMPRESS_ARGS:
        return _COMPRESS_ARGS[arg][0]
    raise ValueError(f"not a compression directive vpnstack knows: {directive!r}")


def compresses(directive: str) -> bool:
    """Whether the peer with this directive may send compressed packets (not a stub)."""
    name, _, arg = directive.strip().partition(" ")
    arg = arg.strip()
    if name == "comp-lzo":
        return _COMP_LZO_ARGS.get(arg, True)
    return _COMPRESS_ARGS.get(arg, ("", True))[1]
