"""A stock OpenVPN 2.6 server in its own network namespace: ``OpenVPNLab``.

How this works: ``OpenVPNLab(options).start()``

1. creates a ``LabNetwork`` (namespace + veth, ``netns.py``) with unique names and addresses;
2. generates a PKI (``pki.py``) and writes it plus ``server.conf`` into a private temp dir;
3. runs ``ip netns exec <ns> openvpn --config server.conf`` as a child process (its pid is
   recorded; only that pid is ever signalled) and waits, bounded, for
   "Initialization Sequence Completed" in the server log.

``stop()`` sends SIGTERM to that pid, SIGKILL after a bound, deletes the namespace and the
temp dir; ``restart()`` stops and starts the openvpn process alone (a server restart).
``client_config_text()`` produces a matching client .ovpn (everything inline, the
client trusts only the root CA while the server sends the intermediate), with keyword
overrides for the tests that need a broken or different client config.

The lab is synchronous (plain subprocess calls): it is used from sync pytest fixtures and from
the demo script; use it as a context manager or call ``start()``/``stop()``.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Literal

import attrs

from vpnstack.lab.netns import LabError, LabNetwork, PeerNamespace
from vpnstack.lab.pki import (
    SERVER_NAME,
    CertKey,
    KeyType,
    Pki,
    TlsCryptV2Keys,
    generate_pki,
    generate_tls_crypt_v2_keys,
)

__all__ = ["LabError", "OpenVPNLab", "PeerNamespace", "ServerOptions"]

Wrapping = Literal["tls-crypt", "tls-auth", "tls-crypt-v2", "none"]
ServerCert = Literal["good", "no-serverauth", "other-ca"]
ClientCertMode = Literal["require", "optional", "none"]

START_TIMEOUT = 20.0
"""Seconds to wait for "Initialization Sequence Completed"."""
STOP_TIMEOUT = 5.0
"""Seconds between SIGTERM and SIGKILL."""
READY_LINE = "Initialization Sequence Completed"


@attrs.frozen
class ServerOptions:
    """How to configure the lab server."""

    wrapping: Wrapping = "tls-crypt"
    """Control-channel wrapping: tls-crypt, tls-auth (server key-direction 0), tls-crypt-v2
    (server key and client key made by ``openvpn --genkey`` at start) or none."""
    auth: str = "SHA256"
    """``auth`` digest (the tls-auth HMAC and the CBC data HMAC)."""
    data_ciphers: tuple[str, ...] = ("AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305")
    """``data-ciphers`` of the server."""
    tls_version_max: str | None = None
    """``tls-version-max`` of the server, e.g. "1.2"."""
    key_type: KeyType = "ec"
    """Key type of every certificate: EC P-256 ("ec") or RSA 2048 ("rsa")."""
    server_cert: ServerCert = "good"
    """"good"; "no-serverauth" (no EKU extension); "other-ca" (signed by an unknown CA)."""
    proto: Literal["udp", "tcp"] = "udp"
    """Transport: server ``proto udp6`` or ``proto tcp6-server`` (dual stack either way); the
    client config says ``proto udp`` or ``proto tcp-client``."""
    keepalive: tuple[int, int] | None = (10, 60)
    """``keepalive PING RESTART`` (pushed to the client as ping/ping-restart), or None."""
    credentials: tuple[str, str] | None = None
    """Require this user name and password (``auth-user-pass-verify`` via-file)."""
    client_cert: ClientCertMode = "require"
    """``verify-client-cert``: require, optional or none (password-only clients)."""
    extra_lines: tuple[str, ...] = ()
    """Free-form lines appended to server.conf."""
    verb: int = 4
    """Server log level."""


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the lab's process dies without stop()."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG; survives exec (no setuid)
    except (OSError, AttributeError):
        pass


class OpenVPNLab:
    """One OpenVPN server in a namespace; see the module docstring."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options if options is not None else ServerOptions()
        self.network: LabNetwork | None = None
        self.directory: str | None = None
        self.pki: Pki | None = None
        self.tls_crypt_v2: TlsCryptV2Keys | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port = random.Random().randint(20000, 59999)
        self._subnet = 0
        self.peers: list[PeerNamespace] = []
        self.restarts = 0  # how many times restart() ran

    # --- addresses --------------------------------------------------------------------------

    @property
    def server_address(self) -> ipaddress.IPv4Address:
        """The server's address on the veth inside the namespace (reachable from here)."""
        return self._net.ns_ipv4

    @property
    def server_address6(self) -> ipaddress.IPv6Address:
        """The server's IPv6 address on the veth."""
        return self._net.ns_ipv6

    @property
    def namespace(self) -> str:
        """Name of the server's network namespace."""
        return self._net.namespace

    @property
    def tunnel_network(self) -> ipaddress.IPv4Network:
        """The tunnel subnet (``server 10.8.N.0 255.255.255.0``)."""
        return ipaddress.IPv4Network(f"10.8.{self._subnet}.0/24")

    @property
    def tunnel_server_address(self) -> ipaddress.IPv4Address:
        """The server's address inside the tunnel (10.8.N.1)."""
        return self.tunnel_network[1]

    @property
    def pid(self) -> int | None:
        """Pid of the openvpn server process while it runs."""
        return self.process.pid if self.process is not None else None

    @property
    def _net(self) -> LabNetwork:
        if self.network is None:
            raise LabError("the lab is not started")
        return self.network

    def _path(self, name: str) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, name)

    # --- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> OpenVPNLab:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Create the namespace, write PKI and config, start openvpn and wait until ready."""
        if self.network is not None:
            raise LabError("the lab is already started")
        if shutil.which("openvpn") is None:
            raise LabError("the 'openvpn' binary is missing: apt-get install -y openvpn")
        try:
            self.directory = tempfile.mkdtemp(prefix="vpnstack-lab-")
            self.pki = generate_pki(self._path("pki"), key_type=self.options.key_type)
            if self.options.wrapping == "tls-crypt-v2":
                self.tls_crypt_v2 = generate_tls_crypt_v2_keys(self._path("pki"))
            self.network = LabNetwork.create()
            self._subnet = self.network.index % 250 + 1
            with open(self._path("server.conf"), "w") as f:
                f.write(self.server_config_text())
            self._write_auth_script()
            self._launch(timeout)
        except BaseException:
            self.stop()
            raise

    def _launch(self, timeout: float) -> None:
        """Run openvpn in the namespace (only its pid is ever signalled); wait until ready."""
        log = open(self._path("stdout.log"), "wb")  # noqa: SIM115 (closed below)
        try:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, "openvpn", "--config", "server.conf"],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        self._wait_ready(timeout)

    def restart(self, timeout: float = START_TIMEOUT, *, pause: float = 0.0) -> None:
        """Stop the openvpn process (by its pid) and start it again: same config, PKI,
        namespace and port, as an administrator's server restart. Clients lose their session
        (UDP: silence; TCP: the connection closes). ``pause``: seconds the server stays down
        between the two. The previous run's logs are kept as ``*.log.N``; ``log_text()``
        shows the new run only."""
        if self.network is None:
            raise LabError("the lab is not started")
        self._stop_process()
        if pause > 0:
            time.sleep(pause)
        self.restarts += 1
        for name in ("stdout.log", "openvpn.log"):
            if os.path.exists(self._path(name)):
                os.replace(self._path(name), self._path(f"{name}.{self.restarts}"))
        self._launch(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_LINE in self.log_text():
                return
            if self.process.poll() is not None:
                raise LabError(
                    f"openvpn exited with status {self.process.returncode} before it was"
                    f" ready; log:\n{self.log_text()}"
                )
            time.sleep(0.05)
        raise LabError(f"openvpn was not ready after {timeout} s; log:\n{self.log_text()}")

    def stop(self) -> None:
        """Stop the server (by its pid), delete the namespace and the temp dir. Idempotent."""
        self._stop_process()
        peers, self.peers = self.peers, []
        for peer in peers:
            peer.delete()
        net, self.network = self.network, None
        if net is not None:
            net.delete()
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def _stop_process(self) -> None:
        """SIGTERM the openvpn process by its pid, SIGKILL after a bound."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)

    def add_peer_namespace(self) -> PeerNamespace:
        """A new namespace linked to the server's (deleted by ``stop``).

        Run a client with a real tun device there, connecting to ``peer.server_ipv4`` and
        ``self.port``: nothing is added to the current namespace.
        """
        peer = PeerNamespace.create(self._net, len(self.peers))
        self.peers.append(peer)
        return peer

    def is_running(self) -> bool:
        """Whether the openvpn process is alive."""
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        """The server log so far (openvpn's log file plus anything on its stdout/stderr)."""
        if self.directory is None:
            return ""
        parts = []
        for name in ("stdout.log", "openvpn.log"):
            try:
                with open(self._path(name), encoding="utf-8", errors="replace") as f:
                    parts.append(f.read())
            except FileNotFoundError:
                pass
        return "".join(parts)

    # --- server config ----------------------------------------------------------------------

    def server_config_text(self) -> str:
        """The server.conf for these options (paths relative to the lab directory)."""
        o = self.options
        assert self.pki is not None
        pki = self.pki
        rel = os.path.relpath
        d = self.directory
        lines = [
            "# vpnstack lab server (generated)",
            f"port {self.port}",
            # an IPv6 socket serves IPv4 clients too (dual stack)
            "proto udp6" if o.proto == "udp" else "proto tcp6-server",
            "dev tun",
            "topology subnet",
            f"server 10.8.{self._subnet}.0 255.255.255.0",
            "dh none",
            "disable-dco",  # the same user-space data path whatever the kernel offers
            f"ca {rel(pki.server_ca_bundle, d)}",
        ]
        if o.server_cert == "good":
            lines += [f"cert {rel(pki.server.cert, d)}", f"key {rel(pki.server.key, d)}"]
            lines.append(f"extra-certs {rel(pki.intermediate_ca, d)}")
        elif o.server_cert == "no-serverauth":
            lines += [
                f"cert {rel(pki.server_noeku.cert, d)}",
                f"key {rel(pki.server_noeku.key, d)}",
            ]
            lines.append(f"extra-certs {rel(pki.intermediate_ca, d)}")
        else:
            lines += [
                f"cert {rel(pki.other_server.cert, d)}",
                f"key {rel(pki.other_server.key, d)}",
            ]
        lines.append(f"data-ciphers {':'.join(o.data_ciphers)}")
        lines.append(f"auth {o.auth}")
        if o.wrapping == "tls-crypt":
            lines.append(f"tls-crypt {rel(pki.tls_crypt_key, d)}")
        elif o.wrapping == "tls-auth":
            lines.append(f"tls-auth {rel(pki.tls_auth_key, d)} 0")
        elif o.wrapping == "tls-crypt-v2":
            assert self.tls_crypt_v2 is not None
            lines.append(f"tls-crypt-v2 {rel(self.tls_crypt_v2.server_key, d)}")
        if o.tls_version_max is not None:
            lines.append(f"tls-version-max {o.tls_version_max}")
        if o.keepalive is not None:
            lines.append(f"keepalive {o.keepalive[0]} {o.keepalive[1]}")
        if o.client_cert != "require":
            lines.append(f"verify-client-cert {o.client_cert}")
        if o.credentials is not None:
            lines += [
                "script-security 2",
                f"auth-user-pass-verify {self._path('check-password.sh')} via-file",
                f"tmp-dir {self.directory}",
            ]
        lines += [
            'push "route 192.0.2.0 255.255.255.0"',  # a documentation network
            f'push "dhcp-option DNS 10.8.{self._subnet}.1"',
            f"verb {o.verb}",
            "log openvpn.log",
            *o.extra_lines,
        ]
        return "\n".join(lines) + "\n"

    def _write_auth_script(self) -> None:
        creds = self.options.credentials
        if creds is None:
            return
        # via-file: openvpn writes "user\npassword\n" to a file and passes its path as $1
        expected = self._path("expected-credentials")
        fd = os.open(expected, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{creds[0]}\n{creds[1]}\n")
        script = self._path("check-password.sh")
        with open(script, "w") as f:
            f.write(f'#!/bin/sh\nexec cmp -s "$1" {expected}\n')
        os.chmod(script, 0o700)

    # --- client config ----------------------------------------------------------------------

    def client_config_text(
        self,
        *,
        remote_host: str | None = None,
        remote_port: int | None = None,
        ca_pem: str | None = None,
        client_cert: bool | None = None,
        wrapping: Wrapping | None = None,
        static_key_text: str | None = None,
        auth: str | None = None,
        data_ciphers: Sequence[str] | None = None,
        remote_cert_tls: bool = True,
        verify_x509_name: str | None = SERVER_NAME,
        credentials: tuple[str, str] | Literal["prompt"] | None = None,
        extra_lines: Sequence[str] = (),
        client_cert_key: CertKey | None = None,
    ) -> str:
        """A client .ovpn matching this server, everything inline; keywords override parts.

        ``remote_host``/``remote_port``: where to connect (default: the server on the veth;
        set them to a relay's address). ``ca_pem``: trusted CA (default: the root only).
        ``wrapping``/``static_key_text``: a different wrapping or key than the server's.
        ``credentials``: inline user/password block, or "prompt" for a bare
        ``auth-user-pass`` (default: the server's credentials if it requires some).
        ``verify_x509_name=None`` leaves that line out. ``client_cert``: include the client
        certificate and key (default: unless the server has ``verify-client-cert none``);
        ``client_cert_key``: another certificate and key to send (e.g. from
        ``pki.issue_client_cert``, or another PKI's client).
        """
        o = self.options
        assert self.pki is not None
        pki = self.pki

        def read(path: str) -> str:
            with open(path) as f:
                return f.read()

        wrap = wrapping if wrapping is not None else o.wrapping
        lines = [
            "# vpnstack lab client (generated)",
            "client",
            "dev tun",
            "proto udp" if o.proto == "udp" else "proto tcp-client",
            f"remote {remote_host or self.server_address} {remote_port or self.port}",
            "nobind",
            f"auth {auth or o.auth}",
            f"data-ciphers {':'.join(data_ciphers or o.data_ciphers)}",
            "verb 3",
        ]
        if remote_cert_tls:
            lines.append("remote-cert-tls server")
        if verify_x509_name is not None:
            lines.append(f"verify-x509-name {verify_x509_name} name")
        if credentials is None and o.credentials is not None:
            credentials = o.credentials
        if credentials == "prompt":
            lines.append("auth-user-pass")
        lines.append(f"<ca>\n{ca_pem if ca_pem is not None else read(pki.root_ca)}</ca>")
        if client_cert or (client_cert is None and o.client_cert != "none"):
            ours = client_cert_key if client_cert_key is not None else pki.client
            lines.append(f"<cert>\n{read(ours.cert)}</cert>")
            lines.append(f"<key>\n{read(ours.key)}</key>")
        if isinstance(credentials, tuple):
            lines.append(f"<auth-user-pass>\n{credentials[0]}\n{credentials[1]}\n</auth-user-pass>")
        if wrap == "tls-crypt":
            key = static_key_text or read(pki.tls_crypt_key)
            lines.append(f"<tls-crypt>\n{key}</tls-crypt>")
        elif wrap == "tls-auth":
            key = static_key_text or read(pki.tls_auth_key)
            lines += ["key-direction 1", f"<tls-auth>\n{key}</tls-auth>"]
        elif wrap == "tls-crypt-v2":
            v2_key = static_key_text
            if v2_key is None:
                if self.tls_crypt_v2 is None:  # a client for another wrapping's server
                    self.tls_crypt_v2 = generate_tls_crypt_v2_keys(self._path("pki"))
                v2_key = read(self.tls_crypt_v2.client_key)
            lines.append(f"<tls-crypt-v2>\n{v2_key}</tls-crypt-v2>")
        lines += list(extra_lines)
        return "\n".join(lines) + "\n"

    def write_client_config(self, path: str, **overrides: object) -> str:
        """Write ``client_config_text(**overrides)`` to ``path`` (mode 0600); return path."""
        text = self.client_config_text(**overrides)  # type: ignore[arg-type]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path
