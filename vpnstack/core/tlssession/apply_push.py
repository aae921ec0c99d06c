"""Applying key id 0's push: cipher, compression framing, keepalive, EKM/epoch, dynamic
tls-crypt, and the TunnelInfo the user sees (docs §5.6, §6.4, §3.10).

How this works: the final PUSH_REPLY part gives a ``PushedOptions``; each function here
answers one question about it against our ``SessionSettings``, as a stock 2.6/2.7 client
does:

* :func:`negotiate_cipher`: the pushed cipher if it is ours; else the server's OCC
  ``cipher`` (a server without NCP); else our ``data-ciphers-fallback``/``cipher``;
* :func:`compression_framing`: the pushed compression option, else the configured one;
* :func:`keepalive_settings`: pushed ``ping``/``ping-restart``, else the configured ones;
* :func:`choose_data_channel`: all of the data-channel choices in one record;
* :func:`dynamic_tls_crypt_negotiated`: our IV_PROTO bit 9 and ``protocol-flags dyn-tls-crypt``;
* :func:`tunnel_up_info`: the push plus the configuration's own routes and options.

Nothing here keeps state; a later PUSH_REPLY once the tunnel is up is not applied (§5.5).
"""

from __future__ import annotations

from vpnstack.core.shared.ciphers import DATA_CIPHERS
from vpnstack.core.shared.framing import framing_of
from vpnstack.core.tlssession.derivation import DataChannelChoice, uses_ekm, uses_epoch_format
from vpnstack.core.tlssession.peerinfo import IV_PROTO_DYN_TLS_CRYPT, announced_iv_proto
from vpnstack.core.tlssession.push import PushedOptions, tunnel_info, with_local_options
from vpnstack.core.tlssession.settings import SessionSettings
from vpnstack.errors import CipherNegotiationFailed, ConfigError
from vpnstack.messages import KeepaliveSettings, TunnelInfo


def negotiable_ciphers(settings: SessionSettings) -> tuple[str, ...]:
    """The data ciphers we announce and accept: ``data-ciphers`` that vpnstack implements."""
    ours = tuple(c.upper() for c in settings.data_ciphers if c.upper() in DATA_CIPHERS)
    if not ours:
        raise ConfigError(
            f"none of data-ciphers {':'.join(settings.data_ciphers)} is implemented by "
            f"vpnstack; use {', '.join(sorted(DATA_CIPHERS))}"
        )
    return ours


def occ_cipher(options: str) -> str | None:
    """The ``cipher X`` of a peer's OCC options string (§5.2), upper-cased, or None."""
    for item in options.split(","):
        name, _, value = item.strip().partition(" ")
        if name == "cipher" and value.strip():
            return value.strip().upper()
    return None


def negotiate_cipher(
    pushed: PushedOptions, settings: SessionSettings, *, server_options: str = ""
) -> str:
    """The data cipher to use (§5.6 ``cipher``), as a stock 2.6 client picks it.

    A pushed cipher must be one of ours. A server that pushes none (no NCP, e.g. before 2.4)
    uses the cipher of its OCC options string (``server_options``, §5.2), which we accept if
    it is one of ours; a server whose OCC string names no cipher gets our
    ``data-ciphers-fallback`` (or legacy ``cipher``). Anything else fails with
    ``CipherNegotiationFailed`` naming both sides' ciphers.
    """
    ours = negotiable_ciphers(settings)
    if pushed.cipher is not None:
        if pushed.cipher.upper() not in ours:
            raise CipherNegotiationFailed(
                f"the server chose data cipher {pushed.cipher}, which is not in our "
                f"data-ciphers ({':'.join(ours)}); add it to data-ciphers, or allow one of "
                f"ours in the server's data-ciphers"
            )
        return pushed.cipher.upper()
    theirs = occ_cipher(server_options)
    if theirs is not None:
        if theirs not in ours:
            fix = (
                f"add {theirs} to data-ciphers"
                if theirs in DATA_CIPHERS
                else f"vpnstack does not implement {theirs}: the server must use one of "
                f"{', '.join(sorted(DATA_CIPHERS))}"
            )
            raise CipherNegotiationFailed(
                f"the server does not negotiate ciphers and uses data cipher {theirs}, which "
                f"is not in our data-ciphers ({':'.join(ours)}); {fix}"
            )
        return theirs
    fallback = settings.data_ciphers_fallback or settings.cipher
    if fallback is None:
        raise CipherNegotiationFailed(
            f"the server pushed no data cipher and named none, and we offered "
            f"{':'.join(ours)}; it may be too old for cipher negotiation: set "
            "data-ciphers-fallback to the server's cipher"
        )
    if fallback.upper() not in DATA_CIPHERS:
        raise CipherNegotiationFailed(
            f"the server pushed no data cipher and the fallback {fallback} is not implemented "
            f"by vpnstack (use one of {', '.join(sorted(DATA_CIPHERS))})"
        )
    return fallback.upper()


def compression_framing(pushed: PushedOptions, settings: SessionSettings) -> str | None:
    """The framing of §6.4 for the data channel: the pushed option wins over the config's."""
    directive = pushed.compression if pushed.compression is not None else settings.compression
    if directive is None:
        return None
    try:
        return framing_of(directive)
    except ValueError:
        raise ConfigError(
            f"the server pushed '{directive}', a compression option vpnstack does not know; "
            "configure the server with 'compress stub-v2' or without compression"
        ) from None


def choose_data_channel(
    pushed: PushedOptions, settings: SessionSettings, *, server_options: str
) -> DataChannelChoice:
    """Every data-channel choice of key id 0's push; later key ids reuse it (§5.7 step 3).

    The framing is decided first: §6.4, §6.10.6: even "comp-lzo no" changes the data framing,
    and it holds for every key.
    """
    compression = compression_framing(pushed, settings)
    cipher = negotiate_cipher(pushed, settings, server_options=server_options)
    return DataChannelChoice(
        cipher=cipher,
        compression=compression,
        auth=settings.auth,
        peer_id=pushed.peer_id,
        use_ekm=uses_ekm(pushed, settings),
        epoch=uses_epoch_format(pushed, settings, cipher),
    )


def keepalive_settings(pushed: PushedOptions, settings: SessionSettings) -> KeepaliveSettings:
    """``ping``/``ping-restart`` for the datachannel: pushed values win (§5.6, §6.5)."""
    return KeepaliveSettings(
        ping=_seconds(pushed.ping if pushed.ping is not None else settings.ping),
        ping_restart=_seconds(
            pushed.ping_restart if pushed.ping_restart is not None else settings.ping_restart
        ),
    )


def dynamic_tls_crypt_negotiated(pushed: PushedOptions, settings: SessionSettings) -> bool:
    """Our IV_PROTO bit 9 and the server's ``protocol-flags dyn-tls-crypt`` (§3.10, §5.6)."""
    announced = announced_iv_proto(settings) & IV_PROTO_DYN_TLS_CRYPT
    return bool(announced) and "dyn-tls-crypt" in pushed.protocol_flags


def tunnel_up_info(
    pushed: PushedOptions, settings: SessionSettings, choice: DataChannelChoice
) -> TunnelInfo:
    """What the user and the tun layer get: the push plus our own routes and options."""
    local = with_local_options(
        pushed,
        routes=settings.routes,
        routes_ipv6=settings.routes_ipv6,
        redirect_gateway=settings.redirect_gateway,
        dhcp_options=settings.dhcp_options,
        tun_mtu=settings.tun_mtu,
    )
    return tunnel_info(local, cipher=choice.cipher, key_derivation=choice.key_derivation)


def push_summary(options: PushedOptions) -> str:
    """One line about a push for the user (no secrets)."""
    parts = []
    if options.ifconfig is not None:
        parts.append(f"ifconfig {options.ifconfig[0]} {options.ifconfig[1]}")
    if options.cipher:
        parts.append(f"cipher {options.cipher}")
    if options.peer_id is not None:
        parts.append(f"peer-id {options.peer_id}")
    parts.append(f"{len(options.routes) + len(options.routes_ipv6)} routes")
    return ", ".join(parts)


def up_summary(info: TunnelInfo) -> str:
    """One line about the tunnel once up."""
    return f"address {info.address}" if info.address is not None else ""


def _seconds(value: int | None) -> float | None:
    return None if value is None or value <= 0 else float(value)
