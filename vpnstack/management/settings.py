"""The management interface's options (openvpn(8) "Management Interface Options").

How this works: ``ManagementSettings`` is built once from the ``--management*`` options and
given to both the core (behaviour) and the service (where to listen, who may connect, how
much to buffer). ``read_password_file`` reads the ``pw-file`` of ``--management``: the
password is its first line.
"""

from __future__ import annotations

import attrs

AUTH_RETRY_MODES = ("none", "interact", "nointeract")
"""The values of ``--auth-retry`` (and of the ``auth-retry`` command)."""


@attrs.frozen
class ManagementSettings:
    """``--management`` and its companions; the defaults are stock's."""

    host: str = "127.0.0.1"
    """``--management IP port``: where to listen on TCP (ignored with ``unix_path``)."""
    port: int = 0
    """TCP port; 0 picks a free one (the service reports it)."""
    unix_path: str | None = None
    """``--management socket-name unix``: listen on this unix socket path instead of TCP."""
    allow_non_loopback: bool = False
    """Listening on anything but loopback is refused unless this is set (stock: INSECURE)."""
    password_file: str | None = None
    """``pw-file``: clients must first send the password on its first line."""
    client_user: str | int | None = None
    """``--management-client-user``: unix socket peers must have this user (name or uid)."""
    client_group: str | int | None = None
    """``--management-client-group``: unix socket peers must have this group (name or gid)."""
    hold: bool = False
    """``--management-hold``: start with the hold flag set (wait for ``hold release``)."""
    query_passwords: bool = False
    """``--management-query-passwords``: the client asks credentials here (NeedPassword)."""
    forget_disconnect: bool = False
    """``--management-forget-disconnect``: forget passwords when a client disconnects."""
    signal_on_disconnect: bool = False
    """``--management-signal``: SIGUSR1 (after remap) when a client disconnects."""
    up_down: bool = False
    """``--management-up-down``: send ``>UPDOWN:`` notifications with their env."""
    log_cache: int = 250
    """``--management-log-cache n``: log lines kept for ``log all`` (stock default 250)."""
    echo_cache: int = 100
    """Echo history size (stock hardcodes 100)."""
    state_cache: int = 100
    """State history size (stock MANAGEMENT_STATE_BUFFER_SIZE)."""
    remap_usr1: str | None = None
    """``--remap-usr1 SIGHUP|SIGTERM``: what a SIGUSR1 from the interface becomes."""
    auth_retry: str = "none"
    """The client's ``--auth-retry`` at start (shown and changed by ``auth-retry``)."""
    verb: int = 1
    """The client's ``--verb`` at start."""
    mute: int = 0
    """The client's ``--mute`` at start."""
    max_line: int = 65536
    """Longest command line accepted; a longer one drops the connection."""
    max_queued_bytes: int = 1 << 20
    """Output a client may leave unread; beyond it the client is dropped (never blocks)."""
    max_clients: int = 16
    """Simultaneous management connections; more are refused at once."""


def read_password_file(path: str) -> str:
    """The management password: the first line of ``path`` (without its line ending)."""
    with open(path, encoding="utf-8") as f:
        line = f.readline()
    return line.rstrip("\r\n")
