"""The tlssession service alone, wired to a scripted TLS server peer, under autojump_clock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.core.tls_helpers import ScriptedServer, client_config, shared_pki
from vpnstack.config import Config
from vpnstack.core.shared import opcodes
from vpnstack.core.tlssession.progress import SessionProgress
from vpnstack.errors import AuthFailed, HandshakeTimeout
from vpnstack.layers.tlssession import TLSSession, state_change
from vpnstack.messages import (
    AuthToken,
    ControlMessage,
    DataChannelCommand,
    DataKeys,
    KeepaliveSettings,
    Stage,
    StateChange,
)
from vpnstack.settings import session_settings

CLIENT_SID = bytes.fromhex("0102030405060708")
PUSH = (
    b"PUSH_REPLY,topology subnet,route-gateway 10.8.0.1,ifconfig 10.8.0.2 255.255.255.0,"
    b"ping 10,ping-restart 60,peer-id 0,cipher AES-256-GCM,key-derivation tls-ekm\x00"
)


def config(**kw: object) -> Config:
    return client_config(**{"tls__hand_window": 60.0, **kw})


class Harness:
    """A TLSSession with the test holding the other end of each channel."""

    def __init__(self, **kw: object) -> None:
        self.notes: list[StateChange] = []
        self.below_in, from_below = trio.open_memory_channel[ControlMessage](16)
        to_below, self.below_out = trio.open_memory_channel[ControlMessage](16)
        to_data, self.data_out = trio.open_memory_channel[DataChannelCommand](16)
        self.session = TLSSession(
            settings=session_settings(config(**kw)),
            local_session_id=CLIENT_SID,
            from_below=from_below,
            to_below=to_below,
            to_data=to_data,
            notify=self.notes.append,
        )
        self.sent_at: list[tuple[float, ControlMessage]] = []

    async def peer(self, server: ScriptedServer) -> None:
        """Relay between the session and the scripted server (a perfect reliable layer)."""
        async with self.below_in:
            async for message in self.below_out:
                self.sent_at.append((trio.current_time(), message))
                for reply in server.handle([message]):
                    await self.below_in.send(reply)


async def test_tunnel_up_with_push_request_retry(autojump_clock: trio.testing.MockClock) -> None:
    server = ScriptedServer(shared_pki(), push_script=[[], [PUSH]])
    h = Harness()
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(h.peer, server)
        await nursery.start(h.session.run)
        keepalive = await h.data_out.receive()
        keys = await h.data_out.receive()
        up_time = trio.current_time()
        # Shut down: end the reliable layer's channel; run returns and closes its ends.
        await h.below_in.aclose()
    assert keepalive == KeepaliveSettings(ping=10.0, ping_restart=60.0)
    assert isinstance(keys, DataKeys)
    assert keys.encrypt_key == server.tls.export(b"EXPORTER-OpenVPN-datakeys", 256)[0:32]
    assert up_time - start == pytest.approx(5.0)  # the second PUSH_REQUEST got the reply
    assert server.push_requests == 2
    assert h.sent_at[0][1] == ControlMessage(opcodes.P_CONTROL_HARD_RESET_CLIENT_V2, 0)
    stages = [n.stage for n in h.notes]
    assert stages[-1] is Stage.TUNNEL_UP
    assert h.notes[-1].info is not None and str(h.notes[-1].info.address) == "10.8.0.2"
    assert Stage.TLS_ESTABLISHED in stages and Stage.PUSH_RECEIVED in stages
    with pytest.raises(trio.EndOfChannel):
        await h.data_out.receive()
    stats = h.session.statistics()
    assert stats.push_requests_sent == 2
    assert stats.data_commands_sent == 2
    assert stats.stage == "tunnel up"
    assert stats.messages_out >= 3 and stats.tls_bytes_in > 0


async def test_handshake_timeout_at_hand_window(autojump_clock: trio.testing.MockClock) -> None:
    h = Harness(tls__hand_window=30.0)
    start = trio.current_time()
    with pytest.raises(HandshakeTimeout, match="no answer from the server"):
        await h.session.run()  # nobody answers the reset
    assert trio.current_time() - start == pytest.approx(30.0)
    assert (await h.below_out.receive()).opcode == opcodes.P_CONTROL_HARD_RESET_CLIENT_V2


async def test_protocol_violation_is_dropped_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = ScriptedServer(shared_pki(), push_script=[[PUSH]])
    h = Harness()
    async with trio.open_nursery() as nursery:
        await nursery.start(h.session.run)
        first = await h.below_out.receive()
        # TLS bytes before the server's reset: dropped, not fatal.
        await h.below_in.send(ControlMessage(opcodes.P_CONTROL_V1, 0, b"\x16\x03\x03"))
        for reply in server.handle([first]):
            await h.below_in.send(reply)
        nursery.start_soon(h.peer, server)
        await h.data_out.receive()
        await h.data_out.receive()
        assert h.session.statistics().drops == {"tls-data-before-server-reset": 1}
        nursery.cancel_scope.cancel()


async def test_auth_failed_ends_run(autojump_clock: trio.testing.MockClock) -> None:
    server = ScriptedServer(shared_pki(), push_script=[[b"AUTH_FAILED,locked out\x00"]])
    h = Harness(client__username="bob", client__password="pw")
    with pytest.RaisesGroup(pytest.RaisesExc(AuthFailed, match="locked out")):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.peer, server)
            await h.session.run()


def test_each_core_progress_becomes_the_same_state_change() -> None:
    token = AuthToken("SESS_ID_AT_x", "bob")
    progress = SessionProgress(Stage.AUTH_TOKEN, "detail", None, token)
    expected = StateChange("tlssession", Stage.AUTH_TOKEN, "detail", None, token)
    assert state_change(progress) == expected
    assert "SESS_ID" not in repr(progress) and "SESS_ID" not in repr(state_change(progress))


async def test_every_notification_names_the_layer(autojump_clock: trio.testing.MockClock) -> None:
    server = ScriptedServer(shared_pki(), push_script=[[PUSH]])
    h = Harness()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(h.peer, server)
        await nursery.start(h.session.run)
        await h.data_out.receive()
        await h.data_out.receive()
        nursery.cancel_scope.cancel()
    assert h.notes and {n.layer for n in h.notes} == {"tlssession"}
