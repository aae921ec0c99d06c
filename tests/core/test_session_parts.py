"""The tlssession core's helper modules as plain functions: control texts, push application,
key-derivation choices, renegotiation arithmetic, user hints, and the settings builder."""

from __future__ import annotations

import attrs
import pytest

from tests.core.tls_helpers import client_config, client_settings
from vpnstack.config import Remote
from vpnstack.core.tlssession.apply_push import (
    dynamic_tls_crypt_negotiated,
    keepalive_settings,
    negotiable_ciphers,
)
from vpnstack.core.tlssession.control import (
    Fatal,
    Pending,
    PushPart,
    Report,
    Unknown,
    auth_pending_deadline,
    auth_token_of,
    react,
)
from vpnstack.core.tlssession.derivation import DataChannelChoice, uses_ekm, uses_epoch_format
from vpnstack.core.tlssession.hints import auth_failed_message, phase_text, timeout_message
from vpnstack.core.tlssession.machine import Phase
from vpnstack.core.tlssession.push import ControlKind, ControlText, PushedOptions
from vpnstack.core.tlssession.renegotiation import (
    RENEG_SEC_DEFAULT,
    next_key_id,
    reneg_interval,
    renegotiate_at,
)
from vpnstack.errors import AuthFailed, CipherNegotiationFailed, ConfigError, ServerHalted
from vpnstack.messages import KeepaliveSettings
from vpnstack.settings import session_settings

CIPHERS = ("AES-256-GCM", "AES-128-GCM")


def text(kind: ControlKind, argument: str = "") -> ControlText:
    return ControlText(kind, argument)


# --- control.py ----------------------------------------------------------------------------------


def test_what_each_control_text_means() -> None:
    assert react(text(ControlKind.PUSH_REPLY, "ping 10"), ciphers=CIPHERS) == PushPart("ping 10")
    assert react(text(ControlKind.AUTH_PENDING, "timeout 30"), ciphers=CIPHERS) == Pending(30.0)
    assert react(text(ControlKind.AUTH_PENDING, ""), ciphers=CIPHERS) == Pending(None)
    assert react(text(ControlKind.INFO, "hi"), ciphers=CIPHERS) == Report("server: hi")
    assert react(text(ControlKind.INFO_PRE, "x"), ciphers=CIPHERS) == Report("server: x")
    assert react(text(ControlKind.OTHER, "WHAT"), ciphers=CIPHERS) == Unknown()


@pytest.mark.parametrize(
    ("kind", "argument", "reconnect", "next_remote", "words"),
    [
        (ControlKind.RESTART, "[N]bye", True, True, "reconnect (RESTART: [N]bye)"),
        (ControlKind.RESTART, "", True, False, "reconnect (RESTART)"),
        (ControlKind.HALT, "go", False, False, "not to reconnect (HALT: go)"),
        (ControlKind.EXIT, "", True, False, "going away (EXIT)"),
    ],
)
def test_texts_that_end_the_session(
    kind: ControlKind, argument: str, reconnect: bool, next_remote: bool, words: str
) -> None:
    reaction = react(text(kind, argument), ciphers=CIPHERS)
    assert isinstance(reaction, Fatal) and isinstance(reaction.error, ServerHalted)
    assert words in str(reaction.error)
    assert reaction.error.reconnect is reconnect
    assert reaction.error.next_remote is next_remote


def test_auth_failed_temporary_and_cipher_failure() -> None:
    temp = react(text(ControlKind.AUTH_FAILED, "TEMP[backoff 30]: busy"), ciphers=CIPHERS)
    assert isinstance(temp, Fatal) and isinstance(temp.error, AuthFailed)
    assert temp.error.temporary and "temporary, try again later" in str(temp.error)
    ncp = react(text(ControlKind.AUTH_FAILED, "no shared cipher"), ciphers=CIPHERS)
    assert isinstance(ncp, Fatal) and isinstance(ncp.error, CipherNegotiationFailed)
    assert "AES-256-GCM:AES-128-GCM" in str(ncp.error)


def test_auth_pending_moves_the_deadline_within_the_limit() -> None:
    assert auth_pending_deadline(deadline=60.0, started_at=0.0, timeout=300.0, limit=1800.0) == 300
    assert auth_pending_deadline(deadline=60.0, started_at=0.0, timeout=9999.0, limit=1800.0) == (
        1800.0
    )
    assert auth_pending_deadline(deadline=60.0, started_at=0.0, timeout=10.0, limit=1800.0) == 60
    assert auth_pending_deadline(deadline=60.0, started_at=0.0, timeout=None, limit=1800.0) == 60


def test_auth_token_of_a_push() -> None:
    assert auth_token_of(PushedOptions()) is None
    token = auth_token_of(PushedOptions(auth_token="SESS_ID_AT_x", auth_token_user="Ym9i"))
    assert token is not None and (token.token, token.username) == ("SESS_ID_AT_x", "bob")
    bad_user = auth_token_of(PushedOptions(auth_token="t", auth_token_user="%%%"))
    assert bad_user is not None and bad_user.username is None
    assert "SESS_ID" not in repr(PushPart("auth-token SESS_ID_AT_x"))


# --- apply_push.py, derivation.py ----------------------------------------------------------------


def test_keepalive_pushed_wins_and_0_means_off() -> None:
    settings = client_settings(data__ping=15, data__ping_restart=120)
    assert keepalive_settings(PushedOptions(), settings) == KeepaliveSettings(15.0, 120.0)
    pushed = PushedOptions(ping=10, ping_restart=0)
    assert keepalive_settings(pushed, settings) == KeepaliveSettings(10.0, None)


def test_ekm_needs_both_our_announcement_and_the_push() -> None:
    ekm = PushedOptions(key_derivation="tls-ekm")
    assert uses_ekm(ekm, client_settings())
    assert not uses_ekm(ekm, client_settings(tls__ekm=False))
    assert not uses_ekm(PushedOptions(), client_settings())


def test_epoch_format_needs_aead_peer_id_and_the_flag() -> None:
    pushed = PushedOptions(peer_id=1, protocol_flags=("aead-epoch",))
    assert uses_epoch_format(pushed, client_settings(), "AES-256-GCM")
    assert not uses_epoch_format(pushed, client_settings(), "AES-256-CBC")
    no_v2 = attrs.evolve(pushed, peer_id=None)
    assert not uses_epoch_format(no_v2, client_settings(), "AES-256-GCM")


def test_dynamic_tls_crypt_needs_the_pushed_flag() -> None:
    assert dynamic_tls_crypt_negotiated(
        PushedOptions(protocol_flags=("dyn-tls-crypt",)), client_settings()
    )
    assert not dynamic_tls_crypt_negotiated(PushedOptions(), client_settings())


def test_choice_names_its_derivation() -> None:
    choice = DataChannelChoice("AES-256-GCM", None, "SHA1", 3, use_ekm=True, epoch=False)
    assert choice.key_derivation == "tls-ekm"
    assert attrs.evolve(choice, use_ekm=False).key_derivation == "prf"


def test_no_implemented_cipher_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="BF-CBC"):
        negotiable_ciphers(client_settings(data__ciphers=("BF-CBC",)))


# --- renegotiation.py, hints.py ------------------------------------------------------------------


def test_reneg_sec_arithmetic() -> None:
    assert reneg_interval(0.0) is None and reneg_interval(50.0) == 50.0
    assert renegotiate_at(100.0, 50.0) == 150.0
    assert renegotiate_at(100.0, None) is None
    assert [next_key_id(k) for k in (0, 6, 7)] == [1, 7, 1]


@pytest.mark.parametrize(
    ("phase", "answered", "v2", "words"),
    [
        (Phase.HARD_RESET_SENT, False, False, "tls-auth/tls-crypt key (and key-direction)"),
        (Phase.HARD_RESET_SENT, False, True, "tls-crypt-v2 client key was made for"),
        (Phase.TLS_HANDSHAKE, True, False, "the TLS handshake did not finish"),
        (Phase.KEY_EXCHANGE, True, False, "did not answer our key-method 2 message"),
        (Phase.PUSH_WAIT, True, False, "did not send its PUSH_REPLY"),
    ],
)
def test_key_id_0_timeout_says_what_to_check(
    phase: Phase, answered: bool, v2: bool, words: str
) -> None:
    message = timeout_message(
        phase=phase, key_id=0, hand_window=60.0, server_answered=answered, tls_crypt_v2=v2
    )
    assert words in message and "60 s (hand-window)" in message


def test_renegotiation_phases_read_like_key_id_0s() -> None:
    assert phase_text(Phase.SOFT_RESET_SENT) == phase_text(Phase.HARD_RESET_SENT) == "reset sent"
    assert phase_text(Phase.REKEY_TLS) == "TLS handshake"
    assert phase_text(Phase.REKEY_KEY_EXCHANGE) == "key-method 2 exchange"


def test_auth_failed_hints() -> None:
    assert auth_failed_message("") == (
        "the server refused our credentials (AUTH_FAILED); check the username and password "
        "of auth-user-pass and the client certificate"
    )
    assert "dynamic challenge" in auth_failed_message("CRV1:R:xyz")


# --- vpnstack/settings.py ------------------------------------------------------------------------


def test_builder_defaults_and_reneg_sec() -> None:
    assert client_settings().reneg_sec == RENEG_SEC_DEFAULT == 3600.0
    assert client_settings(tls__reneg_sec=0).reneg_sec == 0.0
    assert client_settings(tls__reneg_sec=120).reneg_sec == 120.0
    assert client_settings().proto == "udp"
    assert (
        client_settings(transport__remotes=(Remote("h", proto="tcp6"), Remote("h"))).proto == "tcp6"
    )


def test_builder_keeps_only_the_wrapping_key_dynamic_tls_crypt_needs() -> None:
    auth, crypt, v2 = b"\x01" * 256, b"\x02" * 256, b"\x03" * 256 + b"\x04" * 300
    assert client_settings().wrap_key is None and not client_settings().tls_crypt_v2
    assert client_settings(tls__auth_key=auth).wrap_key == auth
    assert client_settings(tls__crypt_key=crypt, tls__auth_key=auth).wrap_key == crypt
    settings = client_settings(tls__crypt_v2_key=v2)
    assert settings.wrap_key == b"\x03" * 256 and settings.tls_crypt_v2


def test_settings_repr_hides_secrets() -> None:
    config = client_config(
        client__username="alice", client__password="hunter2-secret", tls__crypt_key=b"\xab" * 256
    )
    text = repr(session_settings(config))
    assert "hunter2" not in text and "abab" not in text and "\\xab" not in text
    assert "PRIVATE KEY" not in text and "alice" in text
