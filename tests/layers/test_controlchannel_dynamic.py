"""controlchannel with dynamic tls-crypt (docs §3.10): the key arrives from the
tlssession; key id > 0 packets are wrapped and unwrapped with it, key id 0 keeps tls-auth."""

from __future__ import annotations

import os

import trio
import trio.testing

from vpnstack.core.controlchannel.channel import ControlChannelCore
from vpnstack.core.controlchannel.wrap import TlsAuthWrap, TlsCryptWrap
from vpnstack.core.shared.opcodes import P_CONTROL_HARD_RESET_SERVER_V2, P_CONTROL_SOFT_RESET_V1
from vpnstack.core.shared.packets import encode_control
from vpnstack.layers.controlchannel import ControlChannel
from vpnstack.messages import DynamicTlsCryptKey, ReliablePacket

CLIENT_SID = bytes.fromhex("c1c2c3c4c5c6c7c8")
SERVER_SID = bytes.fromhex("5152535455565758")
T0 = 1_700_000_000


def server_packet(opcode: int, key_id: int, message_id: int, payload: bytes = b"") -> bytes:
    return encode_control(
        opcode=opcode, key_id=key_id, session_id=SERVER_SID, acks=(),
        remote_session_id=None, message_id=message_id, payload=payload,
    )


async def test_key_ids_above_0_switch_to_the_dynamic_key(nursery: trio.Nursery) -> None:
    static, dynamic = os.urandom(256), os.urandom(256)
    server_auth = TlsAuthWrap(static, 1, "SHA1", T0 + 1, role="server")
    server_dynamic = TlsCryptWrap(dynamic, T0 + 1, role="server")
    wire_in, from_below = trio.open_memory_channel[bytes](10)
    to_below, wire_out = trio.open_memory_channel[bytes](10)
    packets_down, from_above = trio.open_memory_channel[ReliablePacket](10)
    to_above, packets_up = trio.open_memory_channel[ReliablePacket](10)
    keys_in, from_tls = trio.open_memory_channel[DynamicTlsCryptKey](10)
    core = ControlChannelCore(
        wrap=TlsAuthWrap(static, 1, "SHA1", T0), local_session_id=CLIENT_SID, session_time=T0
    )
    layer = ControlChannel(
        core=core, from_below=from_below, to_below=to_below, from_above=from_above,
        to_above=to_above, from_tls=from_tls,
    )
    await nursery.start(layer.run)
    await wire_in.send(server_auth.wrap(server_packet(P_CONTROL_HARD_RESET_SERVER_V2, 0, 0)))
    assert (await packets_up.receive()).opcode == P_CONTROL_HARD_RESET_SERVER_V2
    assert not layer.statistics().dynamic_tls_crypt

    keys_in.send_nowait(DynamicTlsCryptKey(dynamic))  # as tlssession does, never waiting
    await packets_down.send(ReliablePacket(P_CONTROL_SOFT_RESET_V1, 1, message_id=0))
    wire = await wire_out.receive()
    assert server_dynamic.unwrap(wire, 1.0)[:1] == bytes([P_CONTROL_SOFT_RESET_V1 << 3 | 1])
    assert layer.statistics().dynamic_tls_crypt
    # Key id 0 still goes out with tls-auth.
    await packets_down.send(ReliablePacket(4, 0, message_id=3, payload=b"x"))
    assert server_auth.unwrap(await wire_out.receive(), 1.0)[0] == 4 << 3
    # The server's key id 1 packet under the dynamic key is accepted; under tls-auth it is not.
    await wire_in.send(server_dynamic.wrap(server_packet(P_CONTROL_SOFT_RESET_V1, 1, 0)))
    got = await packets_up.receive()
    assert (got.opcode, got.key_id) == (P_CONTROL_SOFT_RESET_V1, 1)
    await wire_in.send(server_auth.wrap(server_packet(4, 1, 1, payload=os.urandom(64))))
    await trio.testing.wait_all_tasks_blocked()
    assert layer.statistics().drops == {"hmac-mismatch": 1}
