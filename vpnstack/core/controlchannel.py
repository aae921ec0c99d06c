"""Sans-I/O core of the controlchannel: wire bytes <-> ``ReliablePacket``.

How this works: a received control packet is first unwrapped (tls-auth HMAC check, or tls-crypt
decryption and tag check, then the replay check; ``core/controlwrap.py``), giving the plain
layout of PROTOCOL.md §2.2, which ``core/packets.py`` decodes. This core owns the two session
ids: it writes its own id into every packet and the peer's id into every ack section, and it
checks them on the way in:

* the peer's id is learned from the first authentic HARD_RESET_SERVER_V2 (§5.1); until then
  nothing else is accepted, and afterwards a packet from any other session is foreign;
* an ack section must name *our* session id (§2.1: remote_session_id is the receiver's id).

The wrapping sits below the reliable layer because it authenticates the whole packet, acks
and message ids included: they must not be trusted before it is removed.
"""

from __future__ import annotations

from vpnstack.core.controlwrap import ControlWrap
from vpnstack.core.opcodes import P_CONTROL_HARD_RESET_SERVER_V2
from vpnstack.core.packets import decode_control, encode_control
from vpnstack.errors import LocalError, RemoteProtocolError
from vpnstack.messages import ReliablePacket


class ControlChannelCore:
    """Encodes, wraps, unwraps, decodes and session-checks control packets."""

    def __init__(self, *, wrap: ControlWrap, local_session_id: bytes) -> None:
        self._wrap = wrap
        self.local_session_id = local_session_id
        self.remote_session_id: bytes | None = None

    def decode(self, wire: bytes, now: float) -> ReliablePacket:
        """Turn a received packet into a ``ReliablePacket``; raise RemoteProtocolError."""
        plain = self._wrap.unwrap(wire, now)
        packet = decode_control(plain)
        if self.remote_session_id is None:
            if packet.opcode != P_CONTROL_HARD_RESET_SERVER_V2:
                raise RemoteProtocolError("before-server-reset", f"opcode {packet.opcode}")
            self.remote_session_id = packet.session_id
        elif packet.session_id != self.remote_session_id:
            raise RemoteProtocolError("foreign-session")
        if packet.acks and packet.remote_session_id != self.local_session_id:
            raise RemoteProtocolError("ack-for-other-session")
        return ReliablePacket(
            opcode=packet.opcode,
            key_id=packet.key_id,
            acks=packet.acks,
            message_id=packet.message_id,
            payload=packet.payload,
            peer_session_id=packet.session_id,
        )

    def encode(self, packet: ReliablePacket) -> bytes:
        """Turn an outgoing ``ReliablePacket`` into wire bytes (wrapping counts a send)."""
        if packet.acks and self.remote_session_id is None:
            raise LocalError("cannot ack before the peer's session id is known")
        plain = encode_control(
            opcode=packet.opcode,
            key_id=packet.key_id,
            session_id=self.local_session_id,
            acks=packet.acks,
            remote_session_id=self.remote_session_id if packet.acks else None,
            message_id=packet.message_id,
            payload=packet.payload,
        )
        return self._wrap.wrap(plain)

