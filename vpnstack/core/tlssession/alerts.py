"""What a TLS failure on the control channel means, in one line (docs §5.1).

How this works: pyOpenSSL reports a fatal alert received from the server, or a failure of our
own TLS engine, as an ``SSL.Error`` whose last entries are OpenSSL's reason strings, such as
``tlsv1 alert unknown ca`` (an alert the server sent, named by the TLS version that defined
it: sslv3, tlsv1, tlsv13) or ``unsupported protocol`` (our own refusal). :func:`tls_failure`
turns those strings into the typed error the session raises: a ``CertificateError`` when the
server refused our certificate (trying again cannot help), a ``TLSError`` otherwise, each
naming the alert and what to change.

With TLS 1.3 the server checks our certificate only after our Finished, so its alert arrives
after our handshake is done, while we wait for its key-method 2; the session keeps reading
the TLS session then, so the alert lands here too. A stock OpenVPN 2.6 server, however, frees
the TLS session at once on such an error and never sends the alert it wrote (seen on the
wire, §5.8.14: nothing follows its last handshake flight); ``hints.quiet_message`` words
that case.
"""

from __future__ import annotations

import re

from OpenSSL import SSL

from vpnstack.errors import CertificateError, TLSError

_OUR_CERT = "the server rejected our certificate"

# alert name (as RFC 8446 spells it) -> (refuses our certificate?, what it means / what to fix)
_ALERTS: dict[str, tuple[bool, str]] = {
    "unknown_ca": (
        True,
        "the cert/key in the config were not issued by the CA the server trusts",
    ),
    "bad_certificate": (
        True,
        "the server's checks refused it (the server's log says which: e.g. remote-cert-tls "
        "client needs extendedKeyUsage clientAuth, or a tls-verify script said no)",
    ),
    "certificate_expired": (
        True,
        "it has expired (or is not yet valid by the server's clock): renew the client "
        "certificate",
    ),
    "certificate_revoked": (
        True,
        "it is revoked on the server's CRL: get a new client certificate",
    ),
    "unsupported_certificate": (
        True,
        "the server cannot use this kind of certificate (its key usage or extendedKeyUsage "
        "must allow TLS client authentication)",
    ),
    "certificate_unknown": (
        True,
        "the server could not accept it (the server's log says why)",
    ),
    "certificate_required": (
        True,
        "the server requires a client certificate: add cert and key to the config",
    ),
    "access_denied": (
        True,
        "the server denied access to this certificate (the server's log says why)",
    ),
    "handshake_failure": (
        False,
        "no TLS cipher suite or key-exchange group in common: check tls-cipher, "
        "tls-ciphersuites and tls-groups against the server's",
    ),
    "insufficient_security": (
        False,
        "the server wants stronger TLS cipher suites than we offer: check tls-cipher and "
        "tls-ciphersuites",
    ),
    "protocol_version": (
        False,
        "no TLS version in common: check tls-version-min and tls-version-max against the "
        "server's",
    ),
    "decrypt_error": (
        False,
        "a handshake signature did not verify (a certificate and key that do not match, or "
        "two CAs with the same name)",
    ),
    "illegal_parameter": (False, "the server found a field of our handshake invalid"),
    "internal_error": (
        False,
        "the server failed internally, or one of OpenVPN's own checks refused our "
        "certificate (an OpenVPN server reports remote-cert-tls client and tls-verify "
        "refusals with this alert): its log says why",
    ),
    "no_application_protocol": (False, "the server wants an ALPN protocol we do not send"),
}

# Our own engine's refusals (not alerts from the server).
_LOCAL: dict[str, str] = {
    "unsupported protocol": "the server chose a TLS version outside our tls-version-min/max",
    "wrong version number": "the server chose a TLS version outside our tls-version-min/max",
    "no protocols available": "tls-version-min/max leave no TLS version to offer",
    "no ciphers available": "tls-cipher/tls-ciphersuites leave no cipher suite to offer",
    "wrong cipher returned": "the server chose a cipher suite we did not offer",
}

_ALERT = re.compile(r"^(?:sslv3|tlsv1|tlsv13|tls) alert (.+)$")


def reasons(exc: SSL.Error) -> list[str]:
    """OpenSSL's reason strings in an ``SSL.Error``, in stack order."""
    out: list[str] = []
    for item in exc.args[0] if exc.args and isinstance(exc.args[0], list) else []:
        if isinstance(item, tuple) and item:
            out.append(str(item[-1]))
    return out


def alert_name(reason: str) -> str | None:
    """``tlsv1 alert unknown ca`` -> ``unknown_ca``; None if ``reason`` is not an alert."""
    match = _ALERT.match(reason)
    if match is None:
        return None
    name = match.group(1).strip().replace(" ", "_")
    return {"no_certificate": "certificate_required"}.get(name, name)


def tls_failure(exc: SSL.Error, *, after_handshake: bool) -> CertificateError | TLSError:
    """The typed error for a TLS failure (see the module docstring)."""
    found = reasons(exc)
    for reason in found:
        name = alert_name(reason)
        if name is None:
            continue
        ours, meaning = _ALERTS.get(name, (False, ""))
        if ours:
            return CertificateError(f"{_OUR_CERT} (alert {name}): {meaning}")
        if meaning:
            return TLSError(f"the server refused the TLS handshake (alert {name}): {meaning}")
        return TLSError(
            f"the server ended the TLS session with alert {name}"
            " (the server's log says why)"
        )
    for reason in found:
        if reason in _LOCAL:
            return TLSError(f"TLS handshake failed ({reason}): {_LOCAL[reason]}")
    text = "; ".join(found) or str(exc) or type(exc).__name__
    if after_handshake:
        return TLSError(f"TLS error on the control channel: {text}")
    return TLSError(
        f"TLS handshake with the server failed: {text} "
        "(check tls-version-min/max, and that the server accepts our cert/key)"
    )
