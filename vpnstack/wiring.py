"""The wiring: every channel of the stack, who sends on it, who receives, and the layers.

How this works: ``Channels`` creates each memory channel through ``_pipe``, which also records
a ``ChannelSpec`` (name, producer, consumer, what travels, buffer size). ``build_layers`` hands
each layer its ends. ``diagrams/`` is generated from the very same ``Channels().specs``
(``python -m vpnstack.diagram``), and a test fails when the checked-in picture is stale, so
the picture cannot drift from the code.

Wire order (bottom to top)::

                                        ^                                  |
                                        +------ DynamicTlsCryptKey --------+
    networkio <-> packetmuxer <-> controlchannel <-> reliabletransport <-> tlssession
                       ^                                                    |     ^
                       +----------> datachannel <-------- DataKeys ---------+     |
                                      ^     +-------- RenegotiationRequest -------+
                                      |  ^
                                      |  +-- SendOccExit / OccExitSent --> application
                                     tun <-> application

The controlchannel sits *below* the reliable layer (ARCHITECTURE.md draws it above): tls-auth
and tls-crypt authenticate the acks and message ids, so the wrapping has to come off before the
reliable layer may read them, and the one replay counter of the wrapping (docs §3.4)
then has exactly one owner.

What a layer takes from the configuration, with the stock defaults and the arithmetic applied
(TLS bytes per control packet, reneg-sec), comes from ``vpnstack/settings.py``.

Buffer sizes: the data path carries batches (so a small buffer holds many packets); the
control path is low-rate and blocks for backpressure.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from typing import Generic, TypeVar

import attrs
import trio

from vpnstack.config import Config
from vpnstack.core.controlchannel.channel import ControlChannelCore
from vpnstack.core.controlchannel.wrap import make_control_wrap
from vpnstack.layers.base import Layer, Notify
from vpnstack.layers.controlchannel import ControlChannel
from vpnstack.layers.datachannel import DataChannel
from vpnstack.layers.networkio import NetworkIO
from vpnstack.layers.packetmuxer import PacketMuxer
from vpnstack.layers.reliabletransport import ReliableTransport
from vpnstack.layers.tlssession import TLSSession
from vpnstack.layers.tun import Tun, TunEndpoint
from vpnstack.messages import (
    Batch,
    ControlMessage,
    DataChannelCommand,
    DynamicTlsCryptKey,
    OccExitSent,
    ReliablePacket,
    RenegotiationRequest,
    SendExitNotification,
    SendOccExit,
)
from vpnstack.settings import datachannel_settings, reliable_settings, session_settings

T = TypeVar("T")

DATA_BUFFER = 16
"""Batches queued between data-path layers (each batch holds up to 64 packets)."""
CONTROL_BUFFER = 16
"""Control packets/messages queued between control-path layers."""
APP_BUFFER = 512
"""IP packets queued between the application and the tun layer, each way."""

APPLICATION = "application"
"""The producer/consumer name of the public API's side of the tun layer."""


@attrs.frozen
class ChannelSpec:
    """One channel of the stack, as drawn in ``diagrams/``."""

    name: str
    """The channel's name, ``<from>_to_<to>``."""
    producer: str
    """Layer that sends on it."""
    consumer: str
    """Layer that receives from it."""
    carries: str
    """What one item is."""
    buffer: float
    """Buffer size in items."""


@attrs.frozen
class Pipe(Generic[T]):
    """Both ends of one memory channel."""

    send: trio.MemorySendChannel[T]
    receive: trio.MemoryReceiveChannel[T]


class Channels:
    """Every channel of one stack instance."""

    def __init__(self) -> None:
        self.specs: list[ChannelSpec] = []
        # The data path: batches of datagrams / IP packets.
        self.network_to_muxer: Pipe[Batch] = self._pipe(
            "networkio",
            "packetmuxer",
            "batch of OpenVPN packets (UDP datagrams / TCP frames)",
            DATA_BUFFER,
        )
        self.muxer_to_network: Pipe[Batch] = self._pipe(
            "packetmuxer",
            "networkio",
            "batch of OpenVPN packets (UDP datagrams / TCP frames)",
            DATA_BUFFER,
        )
        self.muxer_to_data: Pipe[Batch] = self._pipe(
            "packetmuxer", "datachannel", "batch of P_DATA packets", DATA_BUFFER
        )
        self.data_to_muxer: Pipe[Batch] = self._pipe(
            "datachannel", "packetmuxer", "batch of P_DATA packets", DATA_BUFFER
        )
        self.data_to_tun: Pipe[Batch] = self._pipe(
            "datachannel", "tun", "batch of IP packets", DATA_BUFFER
        )
        self.tun_to_data: Pipe[Batch] = self._pipe(
            "tun", "datachannel", "batch of IP packets", DATA_BUFFER
        )
        self.app_to_tun: Pipe[bytes] = self._pipe(APPLICATION, "tun", "IP packet", APP_BUFFER)
        self.tun_to_app: Pipe[bytes] = self._pipe("tun", APPLICATION, "IP packet", APP_BUFFER)
        # The control path: one packet or message per item.
        self.muxer_to_control: Pipe[bytes] = self._pipe(
            "packetmuxer", "controlchannel", "wrapped control packet", CONTROL_BUFFER
        )
        self.control_to_muxer: Pipe[bytes] = self._pipe(
            "controlchannel", "packetmuxer", "wrapped control packet", CONTROL_BUFFER
        )
        self.control_to_reliable: Pipe[ReliablePacket] = self._pipe(
            "controlchannel",
            "reliabletransport",
            "ReliablePacket",
            CONTROL_BUFFER,
        )
        self.reliable_to_control: Pipe[ReliablePacket] = self._pipe(
            "reliabletransport",
            "controlchannel",
            "ReliablePacket",
            CONTROL_BUFFER,
        )
        self.reliable_to_tls: Pipe[ControlMessage] = self._pipe(
            "reliabletransport",
            "tlssession",
            "ControlMessage (in order)",
            CONTROL_BUFFER,
        )
        self.tls_to_reliable: Pipe[ControlMessage] = self._pipe(
            "tlssession",
            "reliabletransport",
            "ControlMessage",
            CONTROL_BUFFER,
        )
        self.tls_to_data: Pipe[DataChannelCommand] = self._pipe(
            "tlssession",
            "datachannel",
            "DataKeys / KeepaliveSettings",
            # Keys are a handful per hour; never make the session wait on them.
            math.inf,
        )
        self.data_to_tls: Pipe[RenegotiationRequest] = self._pipe(
            "datachannel",
            "tlssession",
            "RenegotiationRequest",
            # At most one per key (reneg-bytes/-pkts, packet id); the data path never waits.
            math.inf,
        )
        self.app_to_tls: Pipe[SendExitNotification] = self._pipe(
            APPLICATION,
            "tlssession",
            "SendExitNotification",
            # Once, when the tunnel closes.
            1,
        )
        self.app_to_data: Pipe[SendOccExit] = self._pipe(
            APPLICATION,
            "datachannel",
            "SendOccExit",
            # Once, when the tunnel closes.
            1,
        )
        self.data_to_app: Pipe[OccExitSent] = self._pipe(
            "datachannel",
            APPLICATION,
            "OccExitSent",
            # The one answer to SendOccExit.
            1,
        )
        self.tls_to_control: Pipe[DynamicTlsCryptKey] = self._pipe(
            "tlssession",
            "controlchannel",
            "DynamicTlsCryptKey",
            # One per session at most (docs §3.10).
            math.inf,
        )

    def _pipe(self, producer: str, consumer: str, carries: str, size: float) -> Pipe[T]:
        self.specs.append(
            ChannelSpec(
                name=f"{_short(producer)}_to_{_short(consumer)}",
                producer=producer,
                consumer=consumer,
                carries=carries,
                buffer=size,
            )
        )
        send, receive = trio.open_memory_channel[T](size)
        return Pipe(send, receive)


def _short(layer: str) -> str:
    return {
        "networkio": "network",
        "packetmuxer": "muxer",
        "controlchannel": "control",
        "reliabletransport": "reliable",
        "tlssession": "tls",
        "datachannel": "data",
        "tun": "tun",
        APPLICATION: "app",
    }[layer]


def build_layers(
    config: Config,
    channels: Channels,
    *,
    endpoint: TunEndpoint,
    notify: Notify,
    local_session_id: bytes | None = None,
    session_time: int | None = None,
) -> Sequence[Layer]:
    """Create every layer with its channel ends, in start-up order (bottom first)."""
    c = channels
    sid = local_session_id if local_session_id is not None else new_session_id()
    session_time = int(time.time()) if session_time is None else session_time
    wrap = make_control_wrap(
        tls_auth_key=config.tls.auth_key,
        key_direction=config.tls.key_direction,
        auth_digest=config.data.auth,
        tls_crypt_key=config.tls.crypt_key,
        tls_crypt_v2_key=config.tls.crypt_v2_key,
        session_time=session_time,
    )
    reliable = reliable_settings(config, wrap_reserve=wrap.tls_mtu_reserve)
    return [
        NetworkIO(
            remote=config.transport.remotes[0],
            to_above=c.network_to_muxer.send,
            from_above=c.muxer_to_network.receive,
            connect_timeout=config.transport.server_poll_timeout,
            notify=notify,
        ),
        PacketMuxer(
            from_below=c.network_to_muxer.receive,
            to_below=c.muxer_to_network.send,
            control_to_above=c.muxer_to_control.send,
            control_from_above=c.control_to_muxer.receive,
            data_to_above=c.muxer_to_data.send,
            data_from_above=c.data_to_muxer.receive,
        ),
        ControlChannel(
            core=ControlChannelCore(wrap=wrap, local_session_id=sid, session_time=session_time),
            from_below=c.muxer_to_control.receive,
            to_below=c.control_to_muxer.send,
            from_above=c.reliable_to_control.receive,
            to_above=c.control_to_reliable.send,
            from_tls=c.tls_to_control.receive,
        ),
        ReliableTransport(
            from_below=c.control_to_reliable.receive,
            to_below=c.reliable_to_control.send,
            from_above=c.tls_to_reliable.receive,
            to_above=c.reliable_to_tls.send,
            max_payload=reliable.max_payload,
            tls_timeout=reliable.tls_timeout,
            max_timeout=reliable.hand_window,
            notify=notify,
        ),
        DataChannel(
            from_below=c.muxer_to_data.receive,
            to_below=c.data_to_muxer.send,
            from_above=c.tun_to_data.receive,
            to_above=c.data_to_tun.send,
            from_tls=c.tls_to_data.receive,
            notify=notify,
            to_tls=c.data_to_tls.send,
            from_app=c.app_to_data.receive,
            to_app=c.data_to_app.send,
            settings=datachannel_settings(config),
        ),
        Tun(endpoint=endpoint, from_below=c.data_to_tun.receive, to_below=c.tun_to_data.send),
        TLSSession(
            settings=session_settings(config),
            local_session_id=sid,
            from_below=c.reliable_to_tls.receive,
            to_below=c.tls_to_reliable.send,
            to_data=c.tls_to_data.send,
            notify=notify,
            from_data=c.data_to_tls.receive,
            from_app=c.app_to_tls.receive,
            to_control=c.tls_to_control.send,
        ),
    ]


def new_session_id() -> bytes:
    """8 random bytes, never all zero (docs §3.1)."""
    while True:
        sid = secrets.token_bytes(8)
        if any(sid):
            return sid
