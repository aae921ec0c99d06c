"""Sans-I/O core of the controlchannel: wire bytes <-> ``ReliablePacket``.

How this works: a received control packet is first unwrapped (tls-auth HMAC check, or tls-crypt
decryption and tag check, then the replay check; ``core/controlchannel/wrap.py``), giving the plain
layout of docs §3.3, which ``core/shared/packets.py`` decodes. This core owns the two session
ids: it writes its own id into every packet and the peer's id into every ack section, and it
checks them on the way in:

* the peer's id is learned from the first authentic HARD_RESET_SERVER_V2 (§5.1); until then
  nothing else is accepted, and afterwards a packet from any other session is foreign;
* an ack section must name *our* session id (§3.2: remote_session_id is the receiver's id).

This core is the one owner of the peer's session id: it alone learns and validates it. Every
``ReliablePacket`` it passes up carries it as ``peer_session_id`` (8 bytes, never None, the
same value on every packet of the session), and the reliable layer copies it into each
``ControlMessage``; the layers above may rely on it without checking it again (the tlssession
reads it from the server's reset for the PRF, §5.3).

Dynamic tls-crypt (docs §3.10): after ``install_dynamic_tls_crypt``, packets with key
id > 0 are wrapped and unwrapped with that tls-crypt key (its own replay counter and window);
key id 0 keeps the original wrapping. The key id is read from the clear first byte.

The wrapping sits below the reliable layer because it authenticates the whole packet, acks
and message ids included: they must not be trusted before it is removed.
"""

from __future__ import annotations

from vpnstack.core.controlchannel.wrap import ControlWrap, TlsCryptWrap
from vpnstack.core.shared.drops import DropReason
from vpnstack.core.shared.opcodes import KEY_ID_MASK, P_CONTROL_HARD_RESET_SERVER_V2
from vpnstack.core.shared.packets import decode_control, encode_control
from vpnstack.errors import LocalError, RemoteProtocolError
from vpnstack.messages import ReliablePacket


class ControlChannelCore:
    """Encodes, wraps, unwraps, decodes and session-checks control packets."""

    def __init__(
        self, *, wrap: ControlWrap, local_session_id: bytes, session_time: int = 0
    ) -> None:
        self._wrap = wrap
        self._dynamic: ControlWrap | None = None
        self._session_time = session_time
        self.local_session_id = local_session_id
        self._remote_session_id: bytes | None = None

    @property
    def remote_session_id(self) -> bytes | None:
        """The peer's session id once its first authentic server reset arrived (§5.1)."""
        return self._remote_session_id

    def decode(self, wire: bytes, now: float) -> ReliablePacket:
        """Turn a received packet into a ``ReliablePacket``; raise RemoteProtocolError."""
        key_id = wire[0] & KEY_ID_MASK if wire else 0
        plain = self._wrap_for(key_id).unwrap(wire, now)
        packet = decode_control(plain)
        if self._remote_session_id is None:
            if packet.opcode != P_CONTROL_HARD_RESET_SERVER_V2:
                raise RemoteProtocolError(DropReason.BEFORE_SERVER_RESET, f"opcode {packet.opcode}")
            self._remote_session_id = packet.session_id
        elif packet.session_id != self._remote_session_id:
            raise RemoteProtocolError(DropReason.FOREIGN_SESSION)
        if packet.acks and packet.remote_session_id != self.local_session_id:
            raise RemoteProtocolError(DropReason.ACK_FOR_OTHER_SESSION)
        return ReliablePacket(
            opcode=packet.opcode,
            key_id=packet.key_id,
            acks=packet.acks,
            message_id=packet.message_id,
            payload=packet.payload,
            peer_session_id=self._remote_session_id,
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
        return self._wrap_for(packet.key_id).wrap(plain)

    @property
    def dynamic_tls_crypt(self) -> bool:
        """Whether key ids > 0 use dynamic tls-crypt (§3.10)."""
        return self._dynamic is not None

    def install_dynamic_tls_crypt(self, key: bytes) -> None:
        """From now on key ids > 0 are wrapped with tls-crypt under ``key`` (§3.10 steps 3-4).

        Its replay counter starts at 1 and its replay window is its own; the time field is
        the session's, constant like the original wrapping's (§3.4).
        """
        self._dynamic = TlsCryptWrap(key, self._session_time)

    def _wrap_for(self, key_id: int) -> ControlWrap:
        return self._dynamic if key_id > 0 and self._dynamic is not None else self._wrap

