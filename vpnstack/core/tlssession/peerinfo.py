"""Peer-info and the OCC options string sent in key-method 2 (docs §5.2, §5.4).

How this works: the peer-info block is ``NAME=value\\n`` lines telling the server what we
support. The IV_PROTO bits announce *only* what vpnstack implements (§5.8.9, §5.8.12):

* bit 1 DATA_V2 (2): P_DATA_V2 and peer-id; set whenever any other bit is set;
* bit 2 REQUEST_PUSH (4): the server may push without waiting for our PUSH_REQUEST;
* bit 3 TLS_KEY_EXPORT (8): we derive keys by EKM when the server pushes ``tls-ekm``
  (left out when ``settings.tls_ekm`` is False, so that the server picks the PRF);
* bit 4 AUTH_PENDING_KW (16): we understand ``AUTH_PENDING,timeout N`` (keep pushing,
  extend the deadline);
* bit 6 DNS_OPTION (64): push.py parses the pushed ``dns`` option;
* bit 7 CC_EXIT_NOTIFY (128): we parse ``protocol-flags`` (push.py), treat a received ``EXIT``
  as "reconnect later", and leave with ``EXIT`` on the control channel when the server pushed
  ``protocol-flags cc-exit`` (``Stack.send_exit_notification``, §6.6);
* bit 8 AUTH_FAIL_TEMP (256): ``AUTH_FAILED,TEMP[backoff N,advance ...]`` is retried after
  its backoff (client/policy.py); informational for a 2.6 server;
* bit 10 DATA_EPOCH (1024): the 2.7 epoch data format (datachannel core, §6.9), used when a
  2.7 server pushes ``protocol-flags aead-epoch``; a 2.6 server ignores the bit;
* bit 9 DYN_TLS_CRYPT (512): when the server pushes ``protocol-flags dyn-tls-crypt``, every
  control packet with key id > 0 is wrapped with the dynamic tls-crypt key, whatever the
  original wrapping (§3.10, §5.8.9; session.py and core/controlchannel/channel.py). Needs EKM, which
  pyOpenSSL always has, so it is announced even when ``settings.tls_ekm`` is False.

Deliberately *not* set: bit 5 NCP_P2P (never in a pull client), bit 11 DNS v2, bit 12
PUSH_UPDATE. So IV_PROTO = 2|4|8|16|64|128|256|512|1024 = 2014.

Compression (§5.4, §6.4): like a stock 2.6 client with its default ``allow-compression
no``, we announce the stub framings, which vpnstack implements (the datachannel core):
``IV_LZO_STUB=1``, ``IV_COMP_STUB=1``, ``IV_COMP_STUBv2=1``; never ``IV_LZO``/``IV_LZ4``/
``IV_LZ4v2``, since we do not decompress.

The OCC options string is informational (§5.2). It describes the fallback cipher
(``data-ciphers-fallback`` or ``cipher``) as a stock client does, and says ``comp-lzo``
only when a compression framing is configured (§6.10.6): a ``compress migrate`` server then
pushes ``compress stub-v2`` (or ``comp-lzo no``).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence

from vpnstack.core.shared.ciphers import HMAC_DIGEST_LENGTHS
from vpnstack.core.shared.framing import framing_of
from vpnstack.core.tlssession.datakeys import IV_PROTO_DATA_EPOCH
from vpnstack.core.tlssession.settings import SessionSettings

IV_PROTO_DATA_V2 = 1 << 1
IV_PROTO_REQUEST_PUSH = 1 << 2
IV_PROTO_TLS_KEY_EXPORT = 1 << 3
IV_PROTO_AUTH_PENDING_KW = 1 << 4
IV_PROTO_DNS_OPTION = 1 << 6
IV_PROTO_CC_EXIT_NOTIFY = 1 << 7
IV_PROTO_AUTH_FAIL_TEMP = 1 << 8
IV_PROTO_DYN_TLS_CRYPT = 1 << 9

IV_PROTO = (
    IV_PROTO_DATA_V2
    | IV_PROTO_REQUEST_PUSH
    | IV_PROTO_TLS_KEY_EXPORT
    | IV_PROTO_AUTH_PENDING_KW
    | IV_PROTO_DNS_OPTION
    | IV_PROTO_CC_EXIT_NOTIFY
    | IV_PROTO_AUTH_FAIL_TEMP
    | IV_PROTO_DYN_TLS_CRYPT
    | IV_PROTO_DATA_EPOCH
)
"""The IV_PROTO value vpnstack announces (§5.4)."""

IV_MTU = 1600
"""Largest tun MTU we accept from a pushed ``tun-mtu`` (stock: max(1600, tun-mtu))."""

# Key sizes in bits, for the informational OCC string.
_KEYSIZE = {
    "AES-128-GCM": 128,
    "AES-192-GCM": 192,
    "AES-256-GCM": 256,
    "CHACHA20-POLY1305": 256,
    "AES-128-CBC": 128,
    "AES-192-CBC": 192,
    "AES-256-CBC": 256,
}
_AEAD = ("GCM", "POLY1305")


def client_version() -> str:
    """The IV_VER we send (the server only exports it to scripts, §5.4)."""
    try:
        version = importlib.metadata.version("vpnstack")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a tree
        version = "0"
    return f"vpnstack-{version}"


def announced_iv_proto(settings: SessionSettings) -> int:
    """IV_PROTO for this configuration: ``IV_PROTO``, less bit 3 if EKM is switched off."""
    return IV_PROTO if settings.tls_ekm else IV_PROTO & ~IV_PROTO_TLS_KEY_EXPORT


def build_peer_info(settings: SessionSettings, *, ciphers: Sequence[str] | None = None) -> str:
    """The peer-info block (§5.4), without the NUL (keymethod2 adds it).

    ``ciphers`` (default ``settings.data_ciphers``) is the IV_CIPHERS list; the session passes
    only the ciphers vpnstack implements.
    """
    ciphers = list(settings.data_ciphers if ciphers is None else ciphers)
    lines = [
        f"IV_VER={client_version()}",
        "IV_PLAT=linux",
        f"IV_PROTO={announced_iv_proto(settings)}",
        f"IV_CIPHERS={':'.join(ciphers)}",
    ]
    if "AES-128-GCM" in ciphers and "AES-256-GCM" in ciphers:
        lines.append("IV_NCP=2")  # legacy: both GCMs supported
    lines += [f"IV_MTU={IV_MTU}", "IV_TCPNL=1"]
    # §5.4: the stub framings only (IV_LZO_STUB because IV_LZO is absent).
    lines += ["IV_LZO_STUB=1", "IV_COMP_STUB=1", "IV_COMP_STUBv2=1"]
    return "".join(line + "\n" for line in lines)


def _proto_name(proto: str) -> str:
    if proto.startswith("tcp"):
        return "TCPv6_CLIENT" if proto.endswith("6") else "TCPv4_CLIENT"
    return "UDPv6" if proto.endswith("6") else "UDPv4"


def occ_options_string(settings: SessionSettings, *, tun_mtu: int = 1500) -> str:
    """The OCC options string (§5.2), e.g. ``V4,dev-type tun,link-mtu 1549,...,tls-client``.

    The server only reads ``cipher`` from it (fallback for clients without NCP) and
    ``comp-lzo`` (compress migrate). The cipher described is the fallback one
    (``data-ciphers-fallback``, else ``cipher``, else the first of ``data-ciphers``); as a
    stock client, ``cipher X`` is only said when X is in ``data-ciphers``. ``link-mtu`` is
    the stock client's figure for that cipher and framing, over ``settings.proto``.
    """
    proto = settings.proto
    cipher = (
        settings.data_ciphers_fallback
        or settings.cipher
        or (settings.data_ciphers[0] if settings.data_ciphers else "AES-256-GCM")
    ).upper()
    aead = cipher.endswith(_AEAD)
    tcp = proto.startswith("tcp")
    # v1 framings (comp-lzo, compress stub/lz4) add a byte to every packet; stub-v2 none.
    framing = 0
    if settings.compression is not None and framing_of(settings.compression) != "stub-v2":
        framing = 1
    if aead:
        # tun-mtu + opcode/peer-id 4 + packet id 4 + tag 16 + 25 of stock slack; TCP +2 length
        auth = "[null-digest]"
        link_mtu = tun_mtu + 49 + framing + (2 if tcp else 0)
    else:
        # opcode 1, packet id 4, IV 16, a block of padding 16, the HMAC (mtu.c, §6.7)
        auth = settings.auth
        digest = HMAC_DIGEST_LENGTHS.get(settings.auth, 20)
        link_mtu = tun_mtu + 1 + 4 + 16 + 16 + digest + framing + (2 if tcp else 0)
    keysize = _KEYSIZE.get(cipher, 256)
    parts = [
        "V4",
        "dev-type tun",
        f"link-mtu {link_mtu}",
        f"tun-mtu {tun_mtu}",
        f"proto {_proto_name(proto)}",
    ]
    if settings.compression is not None:
        parts.append("comp-lzo")  # §5.2, §6.10.6: only when a framing is configured
    if cipher in settings.data_ciphers:
        parts.append(f"cipher {cipher}")
    parts += [f"auth {auth}", f"keysize {keysize}", "key-method 2", "tls-client"]
    return ",".join(parts)
