"""Immutable messages that travel between layers over memory channels.

One owner per piece of state (ARCHITECTURE.md): a layer never reaches into another's state;
what another layer needs travels as one of these frozen records. The channel each travels on
is named in ``vpnstack/wiring.py``.

Data path items are *batches* (``list[bytes]``), not single packets, so that the cost of a
channel hop is paid once per batch rather than once per packet.
"""

from __future__ import annotations

import enum
import ipaddress

import attrs

Batch = list[bytes]
"""A batch of packets on the data path (datagrams below the muxer, IP packets above)."""


# --- control path: controlchannel <-> reliabletransport --------------------------------------


@attrs.frozen
class ReliablePacket:
    """A control packet without its wrapping and session ids (docs §3.2).

    The controlchannel owns both session ids and the wrapping; the reliable layer sees only
    what it needs: the opcode and key id, the acks, the message id and the payload.
    """

    opcode: int
    """One of the control opcodes of §2.2."""
    key_id: int
    """Low 3 bits of the first byte."""
    acks: tuple[int, ...] = ()
    """Message ids acknowledged by this packet (at most 8)."""
    message_id: int | None = None
    """The reliable message id; ``None`` only for P_ACK_V1."""
    payload: bytes = b""
    """TLS bytes for P_CONTROL_V1, TLVs for the server hard reset, else empty."""
    peer_session_id: bytes | None = None
    """On received packets only: the peer's session id, as the controlchannel (its one owner)
    learned and validated it (§5.1); None on packets to send."""


# --- control path: reliabletransport <-> tlssession -----------------------------------------


@attrs.frozen
class ControlMessage:
    """One reliable message of a key id, delivered in order (up) or to be sent (down).

    Down: a reset (empty payload) or TLS bytes (P_CONTROL_V1) of any length; the reliable
    layer cuts TLS bytes into packets that fit the tls-mtu. Up: each received message in
    message-id order.
    """

    opcode: int
    """A reset opcode or P_CONTROL_V1."""
    key_id: int
    """The key id this message belongs to."""
    payload: bytes = b""
    """TLS bytes (P_CONTROL_V1), early-negotiation TLVs (server reset), or empty."""
    peer_session_id: bytes | None = None
    """On received messages only: the server's 8-byte session id, validated by the
    controlchannel (the same on every message of the session); None on messages to send."""


# --- tlssession -> datachannel ---------------------------------------------------------------


@attrs.frozen(repr=False)
class DataKeys:
    """Keys for one key id of the data channel (docs §5.3, §6).

    ``repr`` is deliberately opaque: key material must never reach a log line.
    """

    key_id: int
    """The key id (0..7) whose packets these keys protect."""
    cipher: str
    """Negotiated data cipher, e.g. ``AES-256-GCM``."""
    encrypt_key: bytes
    """Client->server cipher key (key2 slot 0 cipher prefix)."""
    decrypt_key: bytes
    """Server->client cipher key (key2 slot 1 cipher prefix)."""
    encrypt_implicit_iv: bytes
    """AEAD implicit IV for sending (8 bytes of key2 slot 0 hmac)."""
    decrypt_implicit_iv: bytes
    """AEAD implicit IV for receiving (8 bytes of key2 slot 1 hmac)."""
    peer_id: int | None
    """Pushed peer-id: send P_DATA_V2 with it; ``None`` means send P_DATA_V1."""
    auth: str | None = None
    """HMAC digest of a CBC cipher (``auth``: SHA1/SHA256/SHA512); None for AEAD."""
    encrypt_hmac_key: bytes = b""
    """CBC only: client->server HMAC key (key2 slot 0 hmac prefix, §6.3)."""
    decrypt_hmac_key: bytes = b""
    """CBC only: server->client HMAC key (key2 slot 1 hmac prefix, §6.3)."""
    compression: str | None = None
    """Compression framing (§6.4): None, ``comp-lzo``, ``stub`` or ``stub-v2``."""
    epoch: bool = False
    """2.7 epoch data format (§6.9) negotiated (``protocol-flags aead-epoch``)."""

    def __repr__(self) -> str:
        return (
            f"DataKeys(key_id={self.key_id}, cipher={self.cipher!r}, peer_id={self.peer_id}, "
            f"compression={self.compression!r}, epoch={self.epoch})"
        )


@attrs.frozen
class KeepaliveSettings:
    """Pushed ``ping`` / ``ping-restart`` for the data channel (docs §5.6, §6.10.7)."""

    ping: float | None
    """Send a keepalive ping after this many seconds without sending; None = never."""
    ping_restart: float | None
    """Fail with KeepaliveTimeout after this many seconds without receiving; None = never."""


DataChannelCommand = DataKeys | KeepaliveSettings


# --- datachannel -> tlssession, tlssession -> controlchannel ---------------------------------


@attrs.frozen
class RenegotiationRequest:
    """datachannel -> tlssession: the data channel wants a new key (docs §6.8, §5.7)."""

    key_id: int
    """The key whose counters reached a limit; stale if it is no longer the session's newest."""
    reason: str
    """Which limit, for people: ``reneg-bytes 1000``, ``reneg-pkts 64``, packet ids..."""


@attrs.frozen(repr=False)
class DynamicTlsCryptKey:
    """tlssession -> controlchannel: the tls-crypt key for every control packet with key id
    > 0 (docs §3.10). ``repr`` hides the key."""

    key: bytes
    """256 bytes in static-key-file layout, used like a tls-crypt key (client = INVERSE)."""

    def __repr__(self) -> str:
        return "DynamicTlsCryptKey(<hidden>)"


# --- application -> tlssession, application <-> datachannel ---------------------------------


@attrs.frozen
class SendExitNotification:
    """Tell the server we are leaving with ``EXIT`` on the control channel (cc-exit, §6.6)."""


@attrs.frozen
class SendOccExit:
    """application -> datachannel: tell the server we are leaving with an OCC EXIT data
    packet (explicit-exit-notify without cc-exit, §6.5, §6.6)."""


@attrs.frozen
class OccExitSent:
    """datachannel -> application: the OCC EXIT packet was handed down to the packetmuxer
    (or could not be: no data key yet)."""

    sent: bool
    """True if the packet was sealed and handed down; False without a key to seal it."""


# --- pushed options and the tunnel's public description -------------------------------------


@attrs.frozen
class Route:
    """One route the server asks us to send through the tunnel."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    """Destination network."""
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    """Next hop inside the tunnel; None means route-gateway / the tunnel peer."""
    metric: int | None = None
    """Route metric, if pushed."""


@attrs.frozen
class TunnelInfo:
    """What the tunnel looks like once it is up (``Tunnel.info``)."""

    address: ipaddress.IPv4Address | None
    """Our tunnel IPv4 address (pushed ``ifconfig``)."""
    network: ipaddress.IPv4Network | None
    """The tunnel's IPv4 network (from the netmask, or the /30 in net30)."""
    gateway: ipaddress.IPv4Address | None
    """``route-gateway`` (subnet) or the remote peer address (net30/p2p)."""
    mtu: int
    """Tunnel MTU (pushed ``tun-mtu`` or 1500)."""
    routes: tuple[Route, ...]
    """Pushed routes (IPv4 and IPv6)."""
    dns: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    """DNS servers from ``dhcp-option DNS``/``DNS6`` or the ``dns`` option."""
    cipher: str
    """Negotiated data-channel cipher."""
    peer_id: int | None
    """Pushed peer-id, or None (P_DATA_V1)."""
    address6: ipaddress.IPv6Interface | None = None
    """Our tunnel IPv6 address with prefix (pushed ``ifconfig-ipv6``)."""
    search_domains: tuple[str, ...] = ()
    """DNS search domains (``dhcp-option DOMAIN``/``DOMAIN-SEARCH``, ``dns search-domains``)."""
    redirect_gateway: tuple[str, ...] | None = None
    """Flags of a pushed ``redirect-gateway``: None if none was pushed, () if pushed bare."""
    topology: str = "net30"
    """``net30``, ``p2p`` or ``subnet``."""
    key_derivation: str = "prf"
    """``prf`` or ``tls-ekm`` (docs §5.3)."""
    cc_exit: bool = False
    """The server pushed ``protocol-flags cc-exit``: leave with EXIT on the control channel."""


# --- state-change notifications (services -> workers manager) -------------------------------


class Stage(enum.Enum):
    """Stages of bringing a tunnel up, in order, for progress output and tracing."""

    RESOLVING = "resolving"
    CONNECTING = "connecting"
    RESET_SENT = "reset sent"
    RESET_ACKED = "reset acknowledged"
    TLS_HANDSHAKE = "TLS handshake"
    TLS_ESTABLISHED = "TLS established"
    KEY_EXCHANGED = "key-method 2 exchanged"
    PUSH_REQUESTED = "push requested"
    PUSH_RECEIVED = "pushed options received"
    DATA_KEYS_READY = "data channel keys ready"
    AUTH_TOKEN = "auth-token received"
    TUNNEL_UP = "tunnel up"
    CLOSING = "closing"


@attrs.frozen(repr=False)
class AuthToken:
    """A pushed ``auth-token`` (docs §5.6): the password to use on reconnects.

    It is a credential: ``repr`` hides it, and it never goes into a ``detail`` string.
    """

    token: str
    """The token, sent in place of the password (§5.2)."""
    username: str | None
    """``auth-token-user`` decoded, or None to keep the configured user name."""

    def __repr__(self) -> str:
        return "AuthToken(<hidden>)"


@attrs.frozen
class StateChange:
    """A layer reached a stage; ``detail`` is human-readable and never holds secrets."""

    layer: str
    """Name of the reporting layer."""
    stage: Stage
    """The stage reached."""
    detail: str = ""
    """Extra text for people (e.g. the server's subject)."""
    info: TunnelInfo | None = None
    """Set with ``Stage.TUNNEL_UP``."""
    auth_token: AuthToken | None = attrs.field(default=None, repr=False)
    """Set with ``Stage.AUTH_TOKEN``: for the client lifecycle to reuse on reconnect."""
    remote_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    """Set with ``Stage.CONNECTING``: the server's address as networkio resolved it (the
    client routes it outside the tunnel)."""
