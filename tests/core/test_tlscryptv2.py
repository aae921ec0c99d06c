"""tls-crypt-v2 on the client (docs §3.7, §3.4, §3.8, §3.9, §3.11.8).

Every expected byte is built here from the docs/ layouts with ``hmac`` and raw AES
(ECB to make the CTR key stream by hand), never from the code under test. The WKc is made
the way a server makes it (§3.8: T = HMAC-SHA256(Ka_srv, len || Kc || metadata), then
AES-256-CTR(Ke_srv, T[0:16])), so a test-side "server" can unwrap what the client sends.
A key made by the real ``openvpn --genkey`` checks that §3.8 layout against OpenVPN itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.core.tls_helpers import client_settings
from vpnstack.core.controlchannel.channel import ControlChannelCore
from vpnstack.core.controlchannel.tlscryptv2 import (
    V3_RESET_MAX_LEN,
    V3_RESET_MIN_LEN,
    split_client_key,
)
from vpnstack.core.controlchannel.wrap import TlsCryptV2Wrap, TlsCryptWrap, make_control_wrap
from vpnstack.core.reliabletransport.reliable import ReliableCore
from vpnstack.core.shared import opcodes
from vpnstack.core.shared.packets import decode_control, encode_control
from vpnstack.core.tlssession.early_negotiation import (
    parse_early_negotiation_tlvs,
    resend_wkc_requested,
)
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.errors import ConfigError, RemoteProtocolError
from vpnstack.messages import ControlMessage, ReliablePacket

KC = bytes((29 * i + 7) % 256 for i in range(256))
SERVER_KEY = bytes((53 * i + 101) % 256 for i in range(128))  # "tls-crypt-v2 server key"
CLIENT_SID = bytes.fromhex("0102030405060708")
SERVER_SID = bytes.fromhex("a1a2a3a4a5a6a7a8")
CLIENT_TIME = 0x5F5E1000
SERVER_TIME = 0x5F5E1003
TIMESTAMP_METADATA = b"\x01" + struct.pack(">Q", 1_700_000_000)  # type 0x01 + 8-byte time

# §3.5 slots of Kc: the client sends with keys[1] (INVERSE), receives with keys[0].
CLIENT_KE, CLIENT_KA = KC[128:160], KC[192:224]
SERVER_KE, SERVER_KA = KC[0:32], KC[64:96]

# Plain packets (§3.3): the client's V3 reset (no acks, id 0) and other client packets.
V3_RESET = bytes([10 << 3]) + CLIENT_SID + b"\x00" + b"\x00\x00\x00\x00"
CLIENT_ACK = bytes([5 << 3]) + CLIENT_SID + b"\x01" + b"\x00\x00\x00\x00" + SERVER_SID
CLIENT_CONTROL = (
    bytes([4 << 3]) + CLIENT_SID + b"\x01" + b"\x00\x00\x00\x00" + SERVER_SID
    + b"\x00\x00\x00\x02" + b"\x16\x03\x01" + bytes(200)
)  # fmt: skip
EMPTY_WKC_V1 = (
    bytes([11 << 3]) + CLIENT_SID + b"\x01" + b"\x00\x00\x00\x00" + SERVER_SID
    + b"\x00\x00\x00\x01"
)  # fmt: skip
RESEND_FLAG_TLV = bytes.fromhex("0001 0002 0001")
"""§3.9.2: type 0x0001 (flags), length 2, value 0x0001 (resend WKc)."""


# --- an independent implementation of the layouts ---------------------------------------------


def ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES-256-CTR by hand: ECB over the big-endian incremented counter block, XOR."""
    ecb = Cipher(algorithms.AES256(key), modes.ECB()).encryptor()
    counter = int.from_bytes(iv, "big")
    stream = b""
    for i in range((len(data) + 15) // 16):
        stream += ecb.update(((counter + i) % (1 << 128)).to_bytes(16, "big"))
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


def tls_crypt(plain: bytes, ke: bytes, ka: bytes, counter: int, time: int) -> bytes:
    """§3.7: [op|kid][sid][replay 8][tag 32][AES-256-CTR(reliable)], IV = tag[0:16]."""
    header = plain[:9] + struct.pack(">II", counter, time)
    tag = hmac.new(ka, header + plain[9:], hashlib.sha256).digest()
    return header + tag + ctr(ke, tag[:16], plain[9:])


def make_wkc(kc: bytes, metadata: bytes, server_key: bytes = SERVER_KEY) -> bytes:
    """§3.8: WKc = T || AES-256-CTR(Ke_srv, T[0:16], Kc || metadata) || len."""
    ke_srv, ka_srv = server_key[0:32], server_key[64:96]
    length = struct.pack(">H", 32 + len(kc) + len(metadata) + 2)
    tag = hmac.new(ka_srv, length + kc + metadata, hashlib.sha256).digest()
    return tag + ctr(ke_srv, tag[:16], kc + metadata) + length


def server_unwrap_wkc(wkc: bytes, server_key: bytes = SERVER_KEY) -> tuple[bytes, bytes]:
    """What the server does with WKc (§3.8): return (Kc, metadata) after checking T."""
    ke_srv, ka_srv = server_key[0:32], server_key[64:96]
    assert int.from_bytes(wkc[-2:], "big") == len(wkc)
    tag, body = wkc[:32], wkc[32:-2]
    plain = ctr(ke_srv, tag[:16], body)
    expected = hmac.new(ka_srv, wkc[-2:] + plain, hashlib.sha256).digest()
    assert hmac.compare_digest(tag, expected), "WKc tag does not verify"
    return plain[:256], plain[256:]


def server_read(wire: bytes) -> tuple[bytes, int, bytes | None]:
    """A test-side server: cut WKc off opcodes 10/11 by its length, unwrap with Kc taken
    from the WKc (or KC), check the tag; return (plain packet, replay id, WKc or None)."""
    kc, wkc = KC, None
    if wire[0] >> 3 in (10, 11):
        wkc = wire[-int.from_bytes(wire[-2:], "big") :]
        wire = wire[: -len(wkc)]
        kc, _ = server_unwrap_wkc(wkc)
    ke, ka = kc[128:160], kc[192:224]  # the server receives with the client's send slot
    header, tag = wire[:17], wire[17:49]
    reliable = ctr(ke, tag[:16], wire[49:])
    assert hmac.compare_digest(tag, hmac.new(ka, header + reliable, hashlib.sha256).digest())
    return header[:9] + reliable, int.from_bytes(header[9:13], "big"), wkc


WKC = make_wkc(KC, TIMESTAMP_METADATA)
CLIENT_KEY = KC + WKC


# --- the client key -----------------------------------------------------------------------


def test_timestamp_wkc_is_299_bytes_and_splits() -> None:
    assert len(WKC) == 299  # §3.8: "A key with a timestamp gives a 299-byte WKc"
    key = split_client_key(CLIENT_KEY)
    assert (key.kc, key.wkc) == (KC, WKC)
    assert KC.hex()[:16] not in repr(key) and WKC.hex()[:16] not in repr(key)


@pytest.mark.parametrize(
    "key",
    [
        KC,  # no WKc at all
        KC + WKC[:-1],  # truncated: the length field no longer matches
        KC + WKC[:-2] + struct.pack(">H", 300),  # wrong length field
        KC + b"\x00\x04" * 2,  # far too short to hold a wrapped Kc
        KC + make_wkc(KC, bytes(740)),  # 1031 bytes: over the 1024-byte maximum
    ],
)
def test_damaged_client_keys_are_config_errors(key: bytes) -> None:
    with pytest.raises(ConfigError, match="truncated or damaged"):
        split_client_key(key)
    with pytest.raises(ConfigError):
        TlsCryptV2Wrap(key, CLIENT_TIME)


def test_largest_wkc_is_accepted() -> None:
    big = make_wkc(KC, b"\x00" + bytes(733))  # 32 + 256 + 734 + 2 = 1024
    assert len(big) == 1024
    assert split_client_key(KC + big).wkc == big


# --- the wrapping ---------------------------------------------------------------------------


def test_v3_reset_layout_first_replay_id_and_wkc_appended() -> None:
    wrap = TlsCryptV2Wrap(CLIENT_KEY, CLIENT_TIME)
    wire = wrap.wrap(V3_RESET)
    # §3.7 + §3.9.1: tls-crypt with Kc, replay id 0x0F000001, then the raw WKc.
    expected = tls_crypt(V3_RESET, CLIENT_KE, CLIENT_KA, 0x0F000001, CLIENT_TIME) + WKC
    assert wire == expected
    assert wire[0] == 0x50 and wire[9:13] == bytes.fromhex("0f000001")
    assert len(wire) == 1 + 8 + 8 + 32 + 5 + 299 == 353
    # A retransmission is a new transmission for the replay counter (§3.4, §3.11.3).
    again = wrap.wrap(V3_RESET)
    assert again == tls_crypt(V3_RESET, CLIENT_KE, CLIENT_KA, 0x0F000002, CLIENT_TIME) + WKC
    # The server accepts it: Kc out of WKc, tag checks, the 0x0F marker (§3.9.1).
    plain, replay_id, wkc = server_read(wire)
    assert (plain, wkc) == (V3_RESET, WKC)
    assert replay_id & 0xFF000000 == 0x0F000000


@pytest.mark.parametrize("metadata_len", [1, 9, 734])
def test_v3_reset_length_fits_port_share_range(metadata_len: int) -> None:
    # §1.3: a port-share server recognises a V3 reset of 336..1278 bytes; the smallest and
    # the largest WKc, and the default 299-byte one, all give a reset inside that range.
    wkc = make_wkc(KC, b"\x00" + bytes(metadata_len - 1))
    wire = TlsCryptV2Wrap(KC + wkc, CLIENT_TIME).wrap(V3_RESET)
    assert len(wire) == 54 + len(wkc)
    assert V3_RESET_MIN_LEN <= len(wire) <= V3_RESET_MAX_LEN


def test_wkc_only_on_opcodes_10_and_11_and_counter_keeps_growing() -> None:
    wrap = TlsCryptV2Wrap(CLIENT_KEY, CLIENT_TIME)
    sent = [wrap.wrap(p) for p in (V3_RESET, CLIENT_ACK, EMPTY_WKC_V1, CLIENT_CONTROL)]
    expected = [
        tls_crypt(V3_RESET, CLIENT_KE, CLIENT_KA, 0x0F000001, CLIENT_TIME) + WKC,
        tls_crypt(CLIENT_ACK, CLIENT_KE, CLIENT_KA, 0x0F000002, CLIENT_TIME),
        tls_crypt(EMPTY_WKC_V1, CLIENT_KE, CLIENT_KA, 0x0F000003, CLIENT_TIME) + WKC,
        tls_crypt(CLIENT_CONTROL, CLIENT_KE, CLIENT_KA, 0x0F000004, CLIENT_TIME),
    ]
    assert sent == expected
    # Every other control opcode goes out as plain tls-crypt with Kc, no WKc.
    others = [bytes([op << 3]) + CLIENT_SID + b"\x00" + bytes(4) for op in (3, 4, 7)]
    for plain in [*others, CLIENT_ACK]:
        wire = wrap.wrap(plain)
        assert len(wire) == len(plain) + 40, plain[0]
        assert WKC not in wire


def test_empty_wkc_v1_layout() -> None:
    # §3.9.3: an empty P_CONTROL_WKC_V1 carrying the ack of the server's reset, id 1.
    wire = TlsCryptV2Wrap(CLIENT_KEY, CLIENT_TIME).wrap(EMPTY_WKC_V1)
    assert wire[0] == 0x58
    assert len(wire) == 49 + (1 + 4 + 8 + 4) + 299
    plain, _, wkc = server_read(wire)
    assert wkc == WKC
    decoded = decode_control(plain)
    assert (decoded.opcode, decoded.acks, decoded.remote_session_id) == (11, (0,), SERVER_SID)
    assert (decoded.message_id, decoded.payload) == (1, b"")


def test_wkc_is_not_covered_by_the_tag() -> None:
    wire = TlsCryptV2Wrap(CLIENT_KEY, CLIENT_TIME).wrap(V3_RESET)
    # Whatever follows the tls-crypt output, the tag over header || plaintext still holds.
    tls_part = wire[: -len(WKC)]
    assert tls_part == tls_crypt(V3_RESET, CLIENT_KE, CLIENT_KA, 0x0F000001, CLIENT_TIME)
    server = TlsCryptV2Wrap(CLIENT_KEY, SERVER_TIME, role="server")
    other_wkc = make_wkc(KC, b"\x00other")
    assert server.unwrap(tls_part + other_wkc, 1.0) == V3_RESET


def test_server_role_unwraps_and_client_reads_server_packets() -> None:
    client = TlsCryptV2Wrap(CLIENT_KEY, CLIENT_TIME)
    server = TlsCryptV2Wrap(CLIENT_KEY, SERVER_TIME, role="server")
    assert server.unwrap(client.wrap(V3_RESET), 1.0) == V3_RESET
    assert server.unwrap(client.wrap(CLIENT_ACK), 1.0) == CLIENT_ACK
    # The server sends with Kc slot 0 and its own counter from 1 (it is a tls-crypt peer).
    reset = (
        bytes([8 << 3]) + SERVER_SID + b"\x01\x00\x00\x00\x00" + CLIENT_SID
        + b"\x00\x00\x00\x00" + RESEND_FLAG_TLV
    )  # fmt: skip
    from_server = tls_crypt(reset, SERVER_KE, SERVER_KA, 1, SERVER_TIME)
    assert server.wrap(reset) == from_server
    assert client.unwrap(from_server, 1.0) == reset
    # A forged length field cannot make unwrap read outside the packet.
    with pytest.raises(RemoteProtocolError):
        server.unwrap(client.wrap(V3_RESET)[:-2] + b"\xff\xff", 1.0)


def test_v2_wrap_is_tls_crypt_with_kc_apart_from_the_counter_start() -> None:
    v2 = TlsCryptV2Wrap(CLIENT_KEY, CLIENT_TIME)
    v1 = TlsCryptWrap(KC, CLIENT_TIME, initial_counter=0x0F000000)
    assert v2.wrap(CLIENT_CONTROL) == v1.wrap(CLIENT_CONTROL)
    assert (v2.overhead, v2.tls_mtu_reserve, v2.wkc_len) == (40, 56, 299)
    assert "299" in repr(v2) and KC.hex()[:8] not in repr(v2)


def test_make_control_wrap_picks_v2_and_refuses_two_keys() -> None:
    wrap = make_control_wrap(None, None, "SHA1", None, CLIENT_TIME, tls_crypt_v2_key=CLIENT_KEY)
    assert isinstance(wrap, TlsCryptV2Wrap)
    with pytest.raises(ConfigError, match="cannot be used together"):
        make_control_wrap(None, None, "SHA1", bytes(256), CLIENT_TIME, tls_crypt_v2_key=CLIENT_KEY)
    with pytest.raises(ConfigError, match="cannot be used together"):
        make_control_wrap(bytes(256), 1, "SHA1", None, CLIENT_TIME, tls_crypt_v2_key=CLIENT_KEY)


# --- early negotiation TLVs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "resend"),
    [
        (b"", False),  # the normal, empty server reset payload
        (RESEND_FLAG_TLV, True),
        (bytes.fromhex("0001 0002 0000"), False),
        (bytes.fromhex("0001 0002 8001"), True),  # unknown flag bits are ignored
        (bytes.fromhex("0001 0002 0002"), False),
        (bytes.fromhex("1234 0003 aabbcc") + RESEND_FLAG_TLV, True),  # unknown type skipped
        (bytes.fromhex("1234 0000"), False),
    ],
)
def test_resend_flag_from_tlvs(payload: bytes, resend: bool) -> None:
    assert resend_wkc_requested(parse_early_negotiation_tlvs(payload)) is resend


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("0001 0003 000100"),  # flags must be exactly 2 bytes
        bytes.fromhex("0001 0002 00"),  # truncated value
        bytes.fromhex("0001 00"),  # truncated header
    ],
)
def test_malformed_tlvs(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        resend_wkc_requested(parse_early_negotiation_tlvs(payload))


# --- the session and the reliable layer: which packets go out -----------------------------


def server_reset_message(payload: bytes) -> ControlMessage:
    return ControlMessage(
        opcodes.P_CONTROL_HARD_RESET_SERVER_V2, 0, payload, peer_session_id=SERVER_SID
    )


def control_messages(outputs: list[object]) -> list[ControlMessage]:
    return [o for o in outputs if isinstance(o, ControlMessage)]


def test_session_starts_with_v3_and_answers_the_flag_with_an_empty_wkc_v1() -> None:
    core = SessionCore(client_settings(tls__crypt_v2_key=CLIENT_KEY), local_session_id=CLIENT_SID)
    core.start(10.0)
    assert control_messages(core.outputs()) == [
        ControlMessage(opcodes.P_CONTROL_HARD_RESET_CLIENT_V3, 0)
    ]
    core.receive(server_reset_message(RESEND_FLAG_TLV), 10.5)
    sent = control_messages(core.outputs())
    # First the empty WKC_V1 (it will be message id 1), then the ClientHello as TLS bytes.
    assert sent[0] == ControlMessage(opcodes.P_CONTROL_WKC_V1, 0)
    assert [m.opcode for m in sent[1:]] == [opcodes.P_CONTROL_V1]
    assert sent[1].payload[:1] == b"\x16"  # a TLS handshake record


@pytest.mark.parametrize(
    ("v2_key", "payload"),
    [
        (CLIENT_KEY, b""),  # a server that kept the WKc (no flag): plain P_CONTROL_V1
        (None, RESEND_FLAG_TLV),  # not a v2 client: the flag means nothing to us
    ],
)
def test_no_wkc_v1_without_flag_or_without_v2(v2_key: bytes | None, payload: bytes) -> None:
    core = SessionCore(client_settings(tls__crypt_v2_key=v2_key), local_session_id=CLIENT_SID)
    core.start(10.0)
    reset = control_messages(core.outputs())[0].opcode
    assert reset == (opcodes.P_CONTROL_HARD_RESET_CLIENT_V3 if v2_key else 7)
    core.receive(server_reset_message(payload), 10.5)
    assert [m.opcode for m in control_messages(core.outputs())] == [opcodes.P_CONTROL_V1]


def test_wire_sequence_through_reliable_and_controlchannel() -> None:
    """Session -> reliable -> controlchannel, with a test-side server reading the wire."""
    session = SessionCore(
        client_settings(tls__crypt_v2_key=CLIENT_KEY), local_session_id=CLIENT_SID
    )
    reliable = ReliableCore(max_payload=1100)
    control = ControlChannelCore(
        wrap=TlsCryptV2Wrap(CLIENT_KEY, CLIENT_TIME), local_session_id=CLIENT_SID
    )
    session.start(0.0)
    for message in control_messages(session.outputs()):
        reliable.send(message, 0.0)
    wires = [control.encode(p) for p in reliable.packets_to_send(0.0)]
    assert len(wires) == 1 and wires[0][0] == 0x50 and wires[0].endswith(WKC)
    plain, replay_id, _ = server_read(wires[0])
    assert (plain, replay_id) == (V3_RESET, 0x0F000001)

    # The server's stateless reset: acks our id 0, asks for the WKc again (§3.9.2).
    reset = encode_control(
        opcode=8, key_id=0, session_id=SERVER_SID, acks=(0,), remote_session_id=CLIENT_SID,
        message_id=0, payload=RESEND_FLAG_TLV,
    )  # fmt: skip
    packet = control.decode(tls_crypt(reset, SERVER_KE, SERVER_KA, 1, SERVER_TIME), 0.1)
    for message in reliable.receive(packet, 0.1):
        session.receive(message, 0.1)
    for message in control_messages(session.outputs()):
        reliable.send(message, 0.1)
    wires = [control.encode(p) for p in reliable.packets_to_send(0.1)]
    read = [server_read(w) for w in wires]
    decoded = [decode_control(plain) for plain, _, _ in read]
    # Message id 1 is the empty WKC_V1 carrying the ack of the server reset, WKc appended;
    # the ClientHello follows as id 2 in P_CONTROL_V1, without WKc (§3.9.3, §3.11.8).
    assert len(decoded) >= 2
    assert [(d.opcode, d.message_id) for d in decoded[:2]] == [(11, 1), (4, 2)]
    assert all(d.opcode == 4 for d in decoded[1:])  # the ClientHello may span packets
    assert decoded[0].acks == (0,) and decoded[0].remote_session_id == SERVER_SID
    assert decoded[0].payload == b""
    assert decoded[1].payload[:1] == b"\x16"  # a TLS handshake record
    assert [wkc for _, _, wkc in read] == [WKC] + [None] * (len(read) - 1)
    assert [replay for _, replay, _ in read] == [0x0F000002 + i for i in range(len(read))]
    assert isinstance(packet, ReliablePacket)


# --- a key made by the real openvpn ---------------------------------------------------------


def read_pem(path: Path, kind: str) -> bytes:
    text = path.read_text()
    begin, end = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
    body = text[text.index(begin) + len(begin) : text.index(end)]
    return base64.b64decode("".join(body.split()))


@pytest.mark.skipif(shutil.which("openvpn") is None, reason="needs the openvpn binary")
def test_real_openvpn_key_follows_the_documented_layout(tmp_path: Path) -> None:
    server, client = tmp_path / "server.key", tmp_path / "client.key"
    for argv in (
        ["openvpn", "--genkey", "tls-crypt-v2-server", str(server)],
        ["openvpn", "--tls-crypt-v2", str(server), "--genkey", "tls-crypt-v2-client", str(client)],
    ):
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
    server_key = read_pem(server, "OpenVPN tls-crypt-v2 server key")
    client_key = read_pem(client, "OpenVPN tls-crypt-v2 client key")
    assert len(server_key) == 128
    key = split_client_key(client_key)
    assert len(key.wkc) == 299
    kc, metadata = server_unwrap_wkc(key.wkc, server_key)  # §3.8 layout, checked by T
    assert kc == key.kc
    assert metadata[:1] == b"\x01" and len(metadata) == 9  # default: a timestamp
    assert make_wkc(kc, metadata, server_key) == key.wkc
