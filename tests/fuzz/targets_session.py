"""The whole tlssession core (``SessionCore``) against a hostile but TLS-authentic server.

``tests/core/tls_helpers.ScriptedServer`` plays the server with a real TLS server: it answers
our reset with its own (whose payload, the early-negotiation TLVs, comes from the input),
runs the TLS handshake, answers key-method 2 with the input's OCC options string, and answers
our PUSH_REQUEST with the input's control texts, one TLS record each. So everything the
session parses after the handshake (key-method 2, the control texts, a multi-part push, what
it derives from the push) meets hostile input, through the session's own state machine.

Input: records (``engine.pack_records``) ``[reset payload][OCC options][text]...``.
Contract: ``RemoteProtocolError`` and the ``VPNError`` family. Each input costs a TLS
handshake (~100 inputs/s).
"""

from __future__ import annotations

from tests.core.tls_helpers import ScriptedServer, client_settings, shared_pki
from tests.fuzz.engine import Target, mutate_records, pack_records, unpack_records
from tests.fuzz.keys import LOCAL_SESSION_ID
from tests.fuzz.targets_tls import PUSH_REPLY
from vpnstack.core.tlssession.session import SessionCore
from vpnstack.core.tlssession.settings import SessionSettings

_SETTINGS: list[SessionSettings] = []


def _settings() -> SessionSettings:
    if not _SETTINGS:
        _SETTINGS.append(client_settings(shared_pki()))
    return _SETTINGS[0]


def run(data: bytes) -> None:
    records = unpack_records(data)
    reset = records[0] if records else b""
    occ = records[1] if len(records) > 1 else b"V4,dev-type tun"
    texts = [text for text in records[2:] if text]
    server = ScriptedServer(
        shared_pki(), push_script=[texts], reset_payload=reset, occ_options=occ[:4000]
    )
    core = SessionCore(_settings(), local_session_id=LOCAL_SESSION_ID)
    now = 100.0
    core.start(now)
    for _ in range(30):
        outputs = core.outputs()
        replies = server.handle(outputs)
        if not replies and not outputs:
            deadline = core.next_timer()
            if deadline is None or deadline > now + 120:
                break
            now = max(now, deadline)
            core.on_timer(now)
            continue
        for reply in replies:
            core.receive(reply, now)
        now += 0.01


def samples() -> tuple[bytes, ...]:
    reply = PUSH_REPLY.encode() + b"\0"
    first, _, rest = PUSH_REPLY.partition(",route ")
    return (
        pack_records([b"", b"V4,dev-type tun,cipher AES-256-GCM", reply]),
        pack_records(
            [
                bytes.fromhex("000100020001"),
                b"V4,dev-type tun",
                b"AUTH_PENDING,timeout 10\0INFO,hello\0",
                first.encode() + b",push-continuation 2\0",
                b"PUSH_REPLY,route " + rest.encode() + b",push-continuation 1\0",
            ]
        ),
        pack_records([b"", b"V4", b"AUTH_FAILED,TEMP[backoff 5]:later\0"]),
    )


def targets() -> list[Target]:
    return [Target("session", samples(), run, mutator=mutate_records, max_len=16384)]
