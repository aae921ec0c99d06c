"""Renegotiation scheduling: when the next key id is due, and which id it gets (docs §5.7).

How this works: a client renegotiates exactly ``reneg-sec`` seconds after the current key's
key-method 2 exchange (no randomisation for a client, §5.7 table; 0 turns the timer off), or
when the datachannel asks (``reneg-bytes``, ``reneg-pkts``, packet id 0xFF000000, §6.8). The
new key id is the one after the current: 1..7, then 1 again, never 0 (§5.7, §5.8.10). The
session's state machine decides *whether* a renegotiation may start (only from an active
key); this module only does the arithmetic.
"""

from __future__ import annotations

from vpnstack.core.shared import opcodes

RENEG_SEC_DEFAULT = 3600.0
"""``reneg-sec`` default (stock 2.6); it also bounds the AUTH_PENDING timeout (§5.5)."""


def next_key_id(key_id: int) -> int:
    """The key id after ``key_id``: 0, 1, ..., 7, 1, 2, ... never back to 0 (§5.7, §5.8.10)."""
    return 1 if key_id == opcodes.KEY_ID_MASK else key_id + 1


def reneg_interval(reneg_sec: float) -> float | None:
    """The renegotiation interval in seconds, or None when ``reneg-sec`` is 0 (off)."""
    return reneg_sec if reneg_sec > 0 else None


def renegotiate_at(established_at: float, interval: float | None) -> float | None:
    """When the key whose key-method 2 exchange finished at ``established_at`` is due (§5.7)."""
    return None if interval is None else established_at + interval
