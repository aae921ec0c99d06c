"""Control text (PUSH_REPLY and friends), key-method 2 and early-negotiation TLVs.

* ``control-text``: TLS application records (``engine.pack_records``) go through
  ``ControlTextReader``, ``classify``, the session's ``control.react`` and, for PUSH_REPLY,
  ``PushCollector`` and what the session does with a complete push (``apply_push``:
  ``choose_data_channel``, ``keepalive_settings``, ``tunnel_up_info``; ``tunnel_info``,
  ``auth_token_of``), as the session core does with them.
* ``push-options``: one PUSH_REPLY argument straight into ``parse_push_reply`` (bytes outside
  printable ASCII, which ``classify`` refuses, are folded into it) and the same follow-ups.
* ``keymethod2-server``: ``parse_server_message``, then the cipher choice from its OCC
  options string (``negotiate_cipher`` without a pushed cipher).
* ``early-negotiation``: ``parse_early_negotiation_tlvs`` and ``resend_wkc_requested``.

Contract: ``RemoteProtocolError`` and the ``VPNError`` family (``PushOptionRejected``,
``ConfigError`` for a pushed compression we do not know, ``CipherNegotiationFailed``).
"""

from __future__ import annotations

from tests.fuzz.engine import Target, mutate_records, pack_records, unpack_records
from tests.fuzz.keys import CA_PEM
from vpnstack.config import parse_config
from vpnstack.core.tlssession.apply_push import (
    choose_data_channel,
    dynamic_tls_crypt_negotiated,
    keepalive_settings,
    negotiate_cipher,
    push_summary,
    tunnel_up_info,
)
from vpnstack.core.tlssession.control import Fatal, PushPart, auth_token_of, react
from vpnstack.core.tlssession.early_negotiation import (
    parse_early_negotiation_tlvs,
    resend_wkc_requested,
)
from vpnstack.core.tlssession.keymethod2 import encode_string, parse_server_message
from vpnstack.core.tlssession.push import (
    ControlKind,
    ControlTextReader,
    PushCollector,
    PushedOptions,
    classify,
    client_pull_filters,
    is_auth_token_only,
    parse_auth_failed_temp,
    parse_push_reply,
    restart_flags,
    tunnel_info,
    with_local_options,
)
from vpnstack.core.tlssession.settings import SessionSettings
from vpnstack.errors import VPNError
from vpnstack.settings import session_settings

_FILTERS = client_pull_filters(
    pull_filters=(("ignore", "route 192.168."), ("reject", "dhcp-option PROXY")),
    route_nopull=False,
)

_SETTINGS: list[SessionSettings] = []


def _settings() -> SessionSettings:
    """The session settings of a plain client config (what the session core reads)."""
    if not _SETTINGS:
        config = parse_config(
            f"client\ndev tun\nremote 192.0.2.1 1194\n<ca>\n{CA_PEM}</ca>\n"
            "<auth-user-pass>\nuser\npass\n</auth-user-pass>\n"
        )
        _SETTINGS.append(session_settings(config))
    return _SETTINGS[0]


def _use_options(options: PushedOptions) -> None:
    """What the session does with a complete push (apply_push, control)."""
    settings = _settings()
    info = tunnel_info(options, cipher="AES-256-GCM", key_derivation="tls-ekm")
    assert info.mtu > 0
    is_auth_token_only(options)
    auth_token_of(options)
    push_summary(options)
    _ = options.dns_addresses, options.search_domains, options.uses_ekm
    with_local_options(options, routes=(), routes_ipv6=(), redirect_gateway=None, dhcp_options=())
    keepalive_settings(options, settings)
    dynamic_tls_crypt_negotiated(options, settings)
    choice = choose_data_channel(options, settings, server_options="V4,cipher AES-256-GCM")
    tunnel_up_info(options, settings, choice)


def _run_control_text(data: bytes) -> None:
    reader = ControlTextReader()
    collector = PushCollector(filters=_FILTERS)
    ciphers = _settings().data_ciphers
    for record in unpack_records(data):
        for raw in reader.feed(record):
            if not raw:
                continue
            text = classify(raw)
            reaction = react(text, ciphers=ciphers)  # what the session does with it
            if isinstance(reaction, PushPart):
                options = collector.add(reaction.argument)
                if options is not None:
                    _use_options(options)
            elif isinstance(reaction, Fatal):
                assert isinstance(reaction.error, VPNError)
            if text.kind is ControlKind.AUTH_FAILED:
                parse_auth_failed_temp(text.argument)
            elif text.kind in (ControlKind.RESTART, ControlKind.HALT):
                restart_flags(text.argument)


_PRINTABLE = bytes((b if 0x20 <= b <= 0x7E else 0x20 + b % 95) for b in range(256))


def _run_push_options(data: bytes) -> None:
    argument = data.translate(_PRINTABLE).decode("ascii")
    _use_options(parse_push_reply([argument], filters=_FILTERS))


PUSH_REPLY = (
    "PUSH_REPLY,redirect-gateway def1 bypass-dhcp,dhcp-option DNS 10.8.0.1,"
    "dhcp-option DOMAIN example.lan,route 10.10.0.0 255.255.0.0 vpn_gateway 5,"
    "route 192.0.2.0 255.255.255.0 net_gateway,route-ipv6 2001:db8::/32 default 3,"
    "dns server 1 address 10.8.0.1 [2001:db8::1]:53 10.8.0.2:5353,"
    "dns server 1 resolve-domains corp.example,dns server -2 dnssec yes,"
    "dns search-domains a.example b.example,tun-ipv6,route-gateway 10.8.0.1,"
    "topology subnet,ping 10,ping-restart 60,ifconfig 10.8.0.2 255.255.255.0,"
    "ifconfig-ipv6 2001:db8:0:123::1000/64 2001:db8:0:123::1,peer-id 3,"
    "cipher AES-256-GCM,protocol-flags cc-exit tls-ekm dyn-tls-crypt,tun-mtu 1500,"
    "compress stub-v2,auth-token SESS_ID_abc,auth-token-user dXNlcg==,"
    "explicit-exit-notify 2,route-metric 7,key-derivation tls-ekm"
)


def _text_samples() -> tuple[bytes, ...]:
    reply = PUSH_REPLY.encode()
    half = len(reply) // 2
    first = reply[:half].rsplit(b",", 1)[0]
    second = b"PUSH_REPLY," + reply[len(first) + 1 :]
    return (
        pack_records([reply + b"\x00"]),
        pack_records(
            [
                first + b",push-continuation 2\x00",
                second[:40],
                second[40:] + b",push-continuation 1\x00",
            ]
        ),
        pack_records(
            [
                b"AUTH_PENDING,timeout 30\x00INFO,hello\x00",
                b"AUTH_FAILED,TEMP[backoff 30,advance remote]:try later\x00",
            ]
        ),
        pack_records([b"RESTART,[N]server restarting\x00HALT\x00EXIT\x00INFO_PRE,x\x00"]),
        pack_records([b"PUSH_REPLY,comp-lzo no,cipher CHACHA20-POLY1305,peer-id 1\x00"]),
    )


def _km2(options: str, tail: int = 3) -> bytes:
    return (
        bytes(4)
        + b"\x02"
        + bytes(range(32))
        + bytes(range(32, 64))
        + encode_string(options)
        + b"".join(encode_string("") for _ in range(tail))
    )


_TLV_SAMPLES = (
    bytes.fromhex("000100020001"),
    bytes.fromhex("0001000200000002000400000000"),
    b"",
    bytes.fromhex("ffff0000"),
)


def _run_km2(data: bytes) -> None:
    message = parse_server_message(data)
    # the OCC options string picks the cipher when the server pushes none
    negotiate_cipher(PushedOptions(), _settings(), server_options=message.options)


def _run_tlvs(data: bytes) -> None:
    resend_wkc_requested(parse_early_negotiation_tlvs(data))


_PUSH_WORDS = tuple(
    w.encode()
    for w in (
        ",route ",
        ",route-ipv6 ",
        ",dns server ",
        ",dhcp-option ",
        ",ifconfig ",
        ",ifconfig-ipv6 ",
        ",push-continuation 2",
        ",push-continuation 1",
        ",topology ",
        ",peer-id ",
        ",compress ",
        ",comp-lzo ",
        ",cipher ",
        " address ",
        '"',
        "'",
        "\\",
        "\x00",
        "PUSH_REPLY,",
        " 4294967296",
        " -1",
        " ::",
        " 255.255.255.255",
        "[",
        "]:",
    )
)


def targets() -> list[Target]:
    return [
        Target(
            "control-text",
            _text_samples(),
            _run_control_text,
            mutator=mutate_records,
            max_len=16384,
        ),
        Target(
            "push-options",
            (PUSH_REPLY.removeprefix("PUSH_REPLY,").encode(),),
            _run_push_options,
            dictionary=_PUSH_WORDS,
            max_len=16384,
        ),
        Target(
            "keymethod2-server",
            (_km2("V4,dev-type tun,link-mtu 1559,cipher AES-256-GCM,tls-server"), _km2("", 0)),
            _run_km2,
        ),
        Target("early-negotiation", _TLV_SAMPLES, _run_tlvs),
    ]
