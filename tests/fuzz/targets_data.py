"""Data channel: packet open (AEAD, CBC + HMAC, epoch), replay window, compression framing.

* ``data-open-*``: a list of wire packets (``engine.pack_records``) made by the server's side
  of the same ``DataKeys`` is opened by a fresh client ``DataChannelCore``, each packet as its
  own batch and then all as one batch. Contract: ``open`` drops and counts bad packets; it may
  raise ``RemoteProtocolError`` (a non-data opcode, which the muxer never passes) and
  ``ConfigError`` (a compressed packet, docs §6.4), nothing else.
* ``data-authenticated-*``: the plaintexts and packet ids are mutated and encrypted with the
  server's keys, so that the replay window, the compression framing and the ping check see
  hostile but authentic packets.
* ``replay-window``: ``ReplayWindow.check`` fed ``(id, time, dt)`` triples; an id accepted twice
  in one time epoch is a replay let through (asserted).
* ``compression-unframe``: ``unframe(packet, mode)``; ``unframe(frame(p)) == p`` is asserted.
* ``data-key-rotation``: installs of key ids 0, 1 .. 7, 1 .., packets of any live or dead key
  id, seals and keepalive timers on one ``DataChannelCore`` (``KeepaliveTimeout`` allowed).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from tests.fuzz.engine import Target, mutate_records, pack_records, unpack_records
from tests.fuzz.keys import STATIC_KEY
from vpnstack.core.datachannel.channel import DataChannelCore
from vpnstack.core.datachannel.compression import frame, unframe
from vpnstack.core.datachannel.crypto import PING_PAYLOAD, DataCrypto, make_data_crypto
from vpnstack.core.datachannel.epoch import EpochDataCrypto
from vpnstack.core.datachannel.keyring import KeyRing
from vpnstack.core.shared.framing import FRAMINGS, Framing
from vpnstack.core.shared.replay import ReplayWindow
from vpnstack.errors import RemoteProtocolError
from vpnstack.messages import DataKeys, KeepaliveSettings

_PAYLOADS = (
    bytes.fromhex("4500001c00000000400100000a0800010a080002") + bytes(8),
    PING_PAYLOAD,
    b"\x50" + bytes(30),
    bytes(range(100)),
    b"",
)


def _keys(
    cipher: str,
    *,
    peer_id: int | None,
    compression: str | None = None,
    auth: str | None = None,
    epoch: bool = False,
) -> DataKeys:
    k = STATIC_KEY
    key_len = 32 if epoch else {"AES-128-GCM": 16, "AES-128-CBC": 16}.get(cipher, 32)
    hmac_len = {"SHA1": 20, "SHA256": 32, "SHA512": 64}.get(auth or "", 0)
    return DataKeys(
        key_id=0,
        cipher=cipher,
        encrypt_key=k[:key_len],
        decrypt_key=k[128 : 128 + key_len],
        encrypt_implicit_iv=k[64:72],
        decrypt_implicit_iv=k[192:200],
        peer_id=peer_id,
        auth=auth,
        encrypt_hmac_key=k[64 : 64 + hmac_len],
        decrypt_hmac_key=k[192 : 192 + hmac_len],
        compression=compression,
        epoch=epoch,
    )


VARIANTS: dict[str, DataKeys] = {
    "gcm-v1": _keys("AES-256-GCM", peer_id=None),
    "gcm-v2-stubv2": _keys("AES-128-GCM", peer_id=5, compression="stub-v2"),
    "chacha-v2-lzo": _keys("CHACHA20-POLY1305", peer_id=0xFFFFFF, compression="comp-lzo"),
    "cbc-sha1-v1": _keys("AES-256-CBC", peer_id=None, auth="SHA1"),
    "cbc-sha256-v2-stub": _keys("AES-128-CBC", peer_id=7, auth="SHA256", compression="stub"),
    "cbc-sha512-v2": _keys("AES-256-CBC", peer_id=9, auth="SHA512"),
    "epoch-gcm": _keys("AES-256-GCM", peer_id=3, epoch=True),
    "epoch-chacha-stubv2": _keys("CHACHA20-POLY1305", peer_id=4, epoch=True, compression="stub-v2"),
}


def _core() -> DataChannelCore:
    return DataChannelCore(KeyRing(tran_window=3600.0, hand_window=60.0, reneg_sec=3600.0))


def _framing(keys: DataKeys) -> Framing | None:
    return None if keys.compression is None else Framing(keys.compression)


def _server_packets(keys: DataKeys) -> bytes:
    server = make_data_crypto(keys, role="server")
    payloads = [frame(p, _framing(keys)) for p in _PAYLOADS]
    return pack_records([server.encrypt(p) for p in payloads] + [server.encrypt(payloads[0])])


def _open_runner(keys: DataKeys) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        packets = unpack_records(data)
        core = _core()
        core.install_keys(keys, 0.0)
        for index, packet in enumerate(packets):
            try:
                core.open([packet], 1.0 + index)
            except RemoteProtocolError:
                continue
        core.open([p for p in packets if p and p[0] >> 3 in (6, 9)], 100.0)

    return run


def _authenticated_runner(keys: DataKeys) -> Callable[[bytes], None]:
    """Records are ``[packet id 4][plaintext]`` (AEAD/CBC) or ``[op 1][plaintext]`` (epoch)."""

    def run(data: bytes) -> None:
        core = _core()
        core.install_keys(keys, 0.0)
        wires: list[bytes] = []
        held: list[bytes] = []
        epoch_server: EpochDataCrypto | None = None
        for record in unpack_records(data):
            if keys.epoch:
                if not record:
                    continue
                if epoch_server is None:
                    # a small counter limit makes the server change epochs often
                    epoch_server = EpochDataCrypto(
                        keys, role="server", max_counter=1 + record[0] % 8
                    )
                wire = epoch_server.encrypt(record[1:])
                if record[0] & 0x80:
                    held.append(wire)  # delivered late, out of order
                else:
                    wires.append(wire)
                continue
            if len(record) < 4:
                continue
            packet_id = int.from_bytes(record[:4], "big")
            if packet_id == 0:
                continue  # the id the server can never use (first_packet_id >= 1)
            server = make_data_crypto(keys, role="server", first_packet_id=packet_id)
            wires.append(server.encrypt(record[4:]))
        core.open(wires + held[::-1], 5.0)
        for index, wire in enumerate(wires):
            core.open([wire], 30.0 + index)

    return run


def _authenticated_samples(keys: DataKeys) -> tuple[bytes, ...]:
    if keys.epoch:
        return (
            pack_records(
                [bytes([n]) + frame(p, _framing(keys)) for n, p in enumerate(_PAYLOADS * 3)]
            ),
        )
    return (
        pack_records(
            [(n + 1).to_bytes(4, "big") + frame(p, _framing(keys)) for n, p in enumerate(_PAYLOADS)]
        ),
    )


def _replay(data: bytes) -> None:
    if not data:
        return
    window = ReplayWindow(size=1 + data[0] % 96, time_backtrack=float(data[0] % 20))
    now = 0.0
    accepted: set[tuple[int, int]] = set()
    body = data[1:]
    for pos in range(0, len(body) - 8, 9):
        packet_id = int.from_bytes(body[pos : pos + 4], "big")
        packet_time = int.from_bytes(body[pos + 4 : pos + 8], "big") % 4
        now += body[pos + 8] / 4
        try:
            window.check(packet_id, now, packet_time)
        except RemoteProtocolError:
            continue
        assert (packet_id, packet_time) not in accepted, f"replay of id {packet_id} accepted"
        accepted.add((packet_id, packet_time))


def _replay_samples() -> tuple[bytes, ...]:
    def triple(pid: int, t: int, dt: int) -> bytes:
        return pid.to_bytes(4, "big") + t.to_bytes(4, "big") + bytes([dt])

    ordered = bytes([64]) + b"".join(triple(i, 0, 1) for i in range(1, 40))
    reordered = bytes([16]) + b"".join(triple(i, 0, 2) for i in (5, 3, 4, 1, 2, 9, 6, 6, 30, 8))
    epochs = bytes([8]) + b"".join(triple(i % 5 + 1, i // 5, 1) for i in range(20))
    return (ordered, reordered, epochs)


def _unframe(data: bytes) -> None:
    if not data:
        return
    modes = (None, *FRAMINGS)
    mode = modes[data[0] % len(modes)]
    packet = data[1:]
    unframe(packet, mode)
    assert unframe(frame(packet, mode), mode) == packet, "unframe(frame(p)) != p"


def _unframe_samples() -> tuple[bytes, ...]:
    modes = (None, *FRAMINGS)
    return tuple(bytes([i]) + frame(p, mode) for i, mode in enumerate(modes) for p in _PAYLOADS[:3])


def targets() -> list[Target]:
    result = []
    for name, keys in VARIANTS.items():
        result.append(
            Target(
                f"data-open-{name}",
                (_server_packets(keys),),
                _open_runner(keys),
                mutator=mutate_records,
                max_len=8192,
            )
        )
    for name in ("gcm-v2-stubv2", "cbc-sha256-v2-stub", "chacha-v2-lzo", "epoch-gcm"):
        keys = VARIANTS[name]
        result.append(
            Target(
                f"data-authenticated-{name}",
                _authenticated_samples(keys),
                _authenticated_runner(keys),
                mutator=mutate_records,
                max_len=8192,
            )
        )
    result.append(
        Target(
            "data-key-rotation",
            _rotation_samples(),
            _run_rotation,
            mutator=mutate_records,
            max_len=8192,
        )
    )
    result.append(Target("replay-window", _replay_samples(), _replay, max_len=4096))
    result.append(Target("compression-unframe", _unframe_samples(), _unframe, max_len=2048))
    return result


# --- key rotation: the datachannel core with several key ids over time ----------------------

INSTALL, OPEN, SEAL, TIMER = range(4)


def _rotation_keys(key_id: int, cipher: str) -> DataKeys:
    k = STATIC_KEY[key_id * 7 :] + STATIC_KEY[: key_id * 7]
    keys = _keys(cipher, peer_id=1)
    return attrs.evolve(
        keys, key_id=key_id, encrypt_key=k[:32], decrypt_key=k[128:160], compression="stub-v2"
    )


def _run_rotation(data: bytes) -> None:
    """Steps ``[action][dt][body]``: install the next key id (0, 1 .. 7, 1 ..), open a packet
    the server sealed with the key id ``body[0] % 8`` (if it has that key), seal, or fire the
    keepalive timer. ``KeepaliveTimeout`` (a ``VPNError``) ends the input."""
    core = DataChannelCore(
        KeyRing(tran_window=30.0, hand_window=10.0, reneg_sec=3600.0, reneg_pkts=20)
    )
    core.set_keepalive(KeepaliveSettings(ping=10.0, ping_restart=60.0), 0.0)
    now = 0.0
    next_id = 0
    servers: dict[int, DataCrypto] = {}
    last_installed: int | None = None
    for step in unpack_records(data):
        if len(step) < 2:
            continue
        action, dt, body = step[0] % 4, step[1], step[2:]
        now += dt / 4
        if action == INSTALL:
            cipher = "AES-256-GCM" if step[0] & 0x80 else "CHACHA20-POLY1305"
            keys = _rotation_keys(next_id, cipher)
            core.install_keys(keys, now)
            servers[next_id] = make_data_crypto(keys, role="server")
            last_installed = next_id
            next_id = 1 if next_id == 7 else next_id + 1
        elif action == OPEN:
            key_id = body[0] % 8 if body else 0
            server = servers.get(key_id)
            if server is not None:
                core.open([server.encrypt(frame(body[1:], Framing.STUB_V2))], now)
        elif action == SEAL:
            core.seal([body], now)
        else:
            deadline = core.next_timer()
            assert deadline is not None, "keepalive is on, so there is always a deadline"
            now = max(now, deadline)
            core.on_timer(now)
        core.take_renegotiation_requests()
        assert core.keyring.newest == last_installed, "the newest key is the last installed"


def _rotation_samples() -> tuple[bytes, ...]:
    def step(action: int, dt: int, body: bytes = b"") -> bytes:
        return bytes([action, dt]) + body

    return (
        pack_records(
            [
                step(INSTALL, 0),
                step(OPEN, 1, b"\x00hello"),
                step(SEAL, 1, b"\x45" + bytes(27)),
                step(INSTALL, 4),
                step(OPEN, 1, b"\x01new"),
                step(OPEN, 1, b"\x00old"),
                step(TIMER, 0),
                step(INSTALL | 0x80, 200),
                step(OPEN, 1, b"\x02x"),
                step(TIMER, 0),
            ]
        ),
    )
