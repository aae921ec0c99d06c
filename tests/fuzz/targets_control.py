"""Control-channel unwrapping: none, tls-auth, tls-crypt, tls-crypt-v2, dynamic tls-crypt.

Each input is a list of wire packets (``engine.pack_records``) fed in order, with literal
``now`` values, to a fresh client ``ControlChannelCore``. The samples are real sessions: the
packets a server-role wrap with the same keys produced. Contract: ``decode`` raises only
``RemoteProtocolError``.

The ``*-authenticated`` targets mutate the *plain* packets and wrap them with the server's
keys before the client unwraps them, so that everything behind the authentication (decoding,
session ids, the replay window) sees hostile input too, as it would from a hostile server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from tests.fuzz.engine import Target, mutate_records, pack_records, unpack_records
from tests.fuzz.keys import (
    LOCAL_SESSION_ID,
    OTHER_STATIC_KEY,
    REMOTE_SESSION_ID,
    SESSION_TIME,
    STATIC_KEY,
    TLS_CRYPT_V2_CLIENT_KEY,
)
from vpnstack.core.controlchannel.channel import ControlChannelCore
from vpnstack.core.controlchannel.wrap import (
    ControlWrap,
    NoWrap,
    Role,
    TlsAuthWrap,
    TlsCryptV2Wrap,
    TlsCryptWrap,
)
from vpnstack.core.shared import opcodes
from vpnstack.core.shared.packets import encode_control
from vpnstack.errors import RemoteProtocolError

WrapFactory = Callable[[Role], ControlWrap]
"""``factory(role)``: the wrap for role "client" or "server"."""

WRAP_NAMES = (
    "none",
    "tls-auth-sha1",
    "tls-auth-sha256",
    "tls-auth-sha512-bidir",
    "tls-crypt",
    "tls-crypt-v2",
)


def make_wrap(name: str, role: Role) -> ControlWrap:
    """The wrap called ``name`` (one of ``WRAP_NAMES``) for ``role``, with the harness keys."""
    if name == "none":
        return NoWrap()
    if name == "tls-auth-sha1":
        return TlsAuthWrap(STATIC_KEY, 1, "SHA1", SESSION_TIME, role=role)
    if name == "tls-auth-sha256":
        return TlsAuthWrap(STATIC_KEY, 1, "SHA256", SESSION_TIME, role=role)
    if name == "tls-auth-sha512-bidir":
        return TlsAuthWrap(STATIC_KEY, None, "SHA512", SESSION_TIME, role=role)
    if name == "tls-crypt":
        return TlsCryptWrap(STATIC_KEY, SESSION_TIME, role=role)
    if name == "tls-crypt-v2":
        return TlsCryptV2Wrap(TLS_CRYPT_V2_CLIENT_KEY, SESSION_TIME, role=role)
    raise ValueError(name)


def _factory(name: str) -> WrapFactory:
    return functools.partial(make_wrap, name)


def _server_plain_session() -> list[bytes]:
    """The plain packets of a server's side of a handshake, in order."""
    sid, ours = REMOTE_SESSION_ID, LOCAL_SESSION_ID
    tls = bytes.fromhex("16030300") + bytes(range(200))
    return [
        encode_control(
            opcode=opcodes.P_CONTROL_HARD_RESET_SERVER_V2,
            key_id=0,
            session_id=sid,
            acks=(0,),
            remote_session_id=ours,
            message_id=0,
            payload=bytes.fromhex("000100020001"),
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_V1,
            key_id=0,
            session_id=sid,
            acks=(1,),
            remote_session_id=ours,
            message_id=1,
            payload=tls[:120],
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_V1, key_id=0, session_id=sid, message_id=2, payload=tls[120:]
        ),
        encode_control(
            opcode=opcodes.P_ACK_V1,
            key_id=0,
            session_id=sid,
            acks=(2, 3),
            remote_session_id=ours,
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_SOFT_RESET_V1, key_id=1, session_id=sid, message_id=0
        ),
    ]


def _wire_session(factory: WrapFactory, dynamic: bool) -> bytes:
    server = factory("server")
    dyn = TlsCryptWrap(OTHER_STATIC_KEY, SESSION_TIME, role="server") if dynamic else None
    wires = []
    for plain in _server_plain_session():
        wrap = dyn if dyn is not None and plain[0] & opcodes.KEY_ID_MASK else server
        wires.append(wrap.wrap(plain))
    return pack_records(wires)


def _client(factory: WrapFactory, dynamic: bool) -> ControlChannelCore:
    core = ControlChannelCore(
        wrap=factory("client"), local_session_id=LOCAL_SESSION_ID, session_time=SESSION_TIME
    )
    if dynamic:
        core.install_dynamic_tls_crypt(OTHER_STATIC_KEY)
    return core


def _unwrap_runner(factory: WrapFactory, dynamic: bool) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        core = _client(factory, dynamic)
        for index, wire in enumerate(unpack_records(data)):
            try:
                core.decode(wire, now=100.0 + index * 0.5)
            except RemoteProtocolError:
                continue

    return run


def _authenticated_runner(factory: WrapFactory) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        server = factory("server")
        core = _client(factory, False)
        for index, plain in enumerate(unpack_records(data)):
            if len(plain) < 10:
                continue  # wrap() refuses these (LocalError): not something a peer can send
            try:
                core.decode(server.wrap(plain), now=100.0 + index * 0.5)
            except RemoteProtocolError:
                continue

    return run


def _server_side_v2(data: bytes) -> None:
    """tls-crypt-v2 as the *server* unwraps it (WKc stripping by its length field)."""
    server = TlsCryptV2Wrap(TLS_CRYPT_V2_CLIENT_KEY, SESSION_TIME, role="server")
    for index, wire in enumerate(unpack_records(data)):
        try:
            server.unwrap(wire, 100.0 + index)
        except RemoteProtocolError:
            continue


def _client_v2_wires() -> bytes:
    client = TlsCryptV2Wrap(TLS_CRYPT_V2_CLIENT_KEY, SESSION_TIME)
    ours = LOCAL_SESSION_ID
    plains = [
        encode_control(
            opcode=opcodes.P_CONTROL_HARD_RESET_CLIENT_V3, key_id=0, session_id=ours, message_id=0
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_WKC_V1,
            key_id=0,
            session_id=ours,
            acks=(0,),
            remote_session_id=REMOTE_SESSION_ID,
            message_id=1,
            payload=b"\x16\x03\x01" + bytes(50),
        ),
        encode_control(
            opcode=opcodes.P_CONTROL_V1, key_id=0, session_id=ours, message_id=2, payload=b"abc"
        ),
    ]
    return pack_records([client.wrap(p) for p in plains])


def targets() -> list[Target]:
    result: list[Target] = []
    for name in WRAP_NAMES:
        factory = _factory(name)
        result.append(
            Target(
                f"control-unwrap-{name}",
                (_wire_session(factory, False),),
                _unwrap_runner(factory, False),
                mutator=mutate_records,
                max_len=8192,
            )
        )
    result.append(
        Target(
            "control-unwrap-dynamic-tls-crypt",
            (_wire_session(_factory("tls-auth-sha256"), True),),
            _unwrap_runner(_factory("tls-auth-sha256"), True),
            mutator=mutate_records,
            max_len=8192,
        )
    )
    for name in ("tls-auth-sha256", "tls-crypt"):
        result.append(
            Target(
                f"control-authenticated-{name}",
                (pack_records(_server_plain_session()),),
                _authenticated_runner(_factory(name)),
                mutator=mutate_records,
                max_len=8192,
            )
        )
    result.append(
        Target(
            "control-unwrap-tls-crypt-v2-server-side",
            (_client_v2_wires(),),
            _server_side_v2,
            mutator=mutate_records,
            max_len=8192,
        )
    )
    return result
