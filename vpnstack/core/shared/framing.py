"""Compression framing names: which framing a ``comp-lzo`` / ``compress`` directive selects (§7.4).

The config and the tlssession core choose the framing from these names; the datachannel core
adds and removes the framing bytes (``core/datachannel/compression.py``).
"""

from __future__ import annotations

COMP_LZO = "comp-lzo"
STUB = "stub"
STUB_V2 = "stub-v2"
FRAMINGS = (COMP_LZO, STUB, STUB_V2)
"""The framing modes (the values of ``DataKeys.compression`` besides None)."""

# comp-lzo / compress directive (argument) -> framing, and whether it really compresses.
_COMP_LZO_ARGS = {"": True, "yes": True, "adaptive": True, "no": False}
_COMPRESS_ARGS = {
    "": (STUB, False),
    "stub": (STUB, False),
    "stub-v2": (STUB_V2, False),
    "lzo": (COMP_LZO, True),
    "lz4": (STUB, True),
    "lz4-v2": (STUB_V2, True),
}


def framing_of(directive: str) -> str:
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
