"""Key derivation choices: PRF or TLS-EKM, epoch or 2.6 format (docs §5.3, §6.9).

How this works: when key id 0's PUSH_REPLY arrives, the session decides once how every key
id's data keys are made and keeps the answer in a :class:`DataChannelChoice`:

* **TLS-EKM** (:func:`uses_ekm`) only when we announced IV_PROTO bit 3 *and* the server
  pushed ``key-derivation tls-ekm`` or ``protocol-flags tls-ekm`` (§5.3, §5.8.4); else the
  OpenVPN PRF over both sides' key-method 2 randoms and the two session ids (§5.3 A);
* the **epoch format** (:func:`uses_epoch_format`, 2.7) only with our IV_PROTO bit 10, an
  AEAD cipher, P_DATA_V2 (a pushed peer-id) and the pushed ``aead-epoch`` (§6.9).

:func:`derive_data_keys` then makes one key id's ``DataKeys``: EKM runs on *that* key id's
TLS session and the PRF uses *its* randoms (§5.3, §5.7 step 3, §5.8.8).
"""

from __future__ import annotations

import attrs

from vpnstack.core.tlssession.datakeys import (
    EKM_LABEL,
    KEY2_LEN,
    epoch_format_negotiated,
    split_key2,
    split_key2_epoch,
)
from vpnstack.core.tlssession.keymethod2 import KeySource, ServerKeyMethod2
from vpnstack.core.tlssession.peerinfo import announced_iv_proto
from vpnstack.core.tlssession.prf import derive_key2_prf
from vpnstack.core.tlssession.push import PushedOptions
from vpnstack.core.tlssession.settings import SessionSettings
from vpnstack.core.tlssession.tlsclient import TLSClient
from vpnstack.messages import DataKeys


@attrs.frozen
class DataChannelChoice:
    """How every key id's data keys are made, decided with key id 0's push (§5.7 step 3)."""

    cipher: str
    """The negotiated data cipher, upper-case."""
    compression: str | None
    """The §6.4 framing (None, ``comp-lzo``, ``stub``, ``stub-v2``)."""
    auth: str
    """The ``auth`` digest (the HMAC of the CBC ciphers)."""
    peer_id: int | None
    """The pushed peer-id (P_DATA_V2), or None (P_DATA_V1)."""
    use_ekm: bool
    """key2 from TLS-EKM (else the OpenVPN PRF)."""
    epoch: bool
    """The 2.7 epoch data format (else the 2.6 one)."""

    @property
    def key_derivation(self) -> str:
        """``tls-ekm`` or ``prf``, as reported to the user and in TunnelInfo."""
        return "tls-ekm" if self.use_ekm else "prf"


def uses_ekm(pushed: PushedOptions, settings: SessionSettings) -> bool:
    """§5.3/§5.8.4: EKM only when we announced bit 3 *and* the server pushed tls-ekm."""
    return pushed.uses_ekm and settings.tls_ekm


def uses_epoch_format(pushed: PushedOptions, settings: SessionSettings, cipher: str) -> bool:
    """§6.9: epoch format only with our bit 10, AEAD, P_DATA_V2 and the pushed aead-epoch."""
    return epoch_format_negotiated(
        iv_proto=announced_iv_proto(settings),
        cipher=cipher,
        peer_id=pushed.peer_id,
        protocol_flags=pushed.protocol_flags,
    )


def derive_key2(
    *,
    use_ekm: bool,
    tls: TLSClient,
    source: KeySource,
    server_km2: ServerKeyMethod2,
    client_session_id: bytes,
    server_session_id: bytes,
) -> bytes:
    """The 256 bytes of key2 of one key id (§5.3 A or B)."""
    if use_ekm:
        return tls.export_keying_material(EKM_LABEL, KEY2_LEN)
    return derive_key2_prf(
        pre_master=source.pre_master,
        client_random1=source.random1,
        server_random1=server_km2.random1,
        client_random2=source.random2,
        server_random2=server_km2.random2,
        client_session_id=client_session_id,
        server_session_id=server_session_id,
    )


def derive_data_keys(
    choice: DataChannelChoice,
    key_id: int,
    *,
    tls: TLSClient,
    source: KeySource,
    server_km2: ServerKeyMethod2,
    client_session_id: bytes,
    server_session_id: bytes,
) -> DataKeys:
    """The DataKeys of one key id: key id 0 and every renegotiated key come from here."""
    key2 = derive_key2(
        use_ekm=choice.use_ekm,
        tls=tls,
        source=source,
        server_km2=server_km2,
        client_session_id=client_session_id,
        server_session_id=server_session_id,
    )
    if choice.epoch:
        assert choice.peer_id is not None
        return split_key2_epoch(
            key2,
            cipher=choice.cipher,
            key_id=key_id,
            peer_id=choice.peer_id,
            compression=choice.compression,
        )
    return split_key2(
        key2,
        cipher=choice.cipher,
        key_id=key_id,
        peer_id=choice.peer_id,
        auth=choice.auth,
        compression=choice.compression,
    )
