"""``remote`` lines, ``<connection>`` blocks and the per-connection options.

How this works: like OpenVPN, each ``<connection>`` block starts from the global
``proto``/``port`` given *before* it and must hold exactly one ``remote``; ``remote`` lines
outside the blocks are then ignored (with a warning), and connection options given after the
first block are ignored (with a warning, in ``Parser.handle``), except
``tls-auth``/``tls-crypt``/``tls-crypt-v2``/``key-direction`` which apply to every block that
has none of its own. vpnstack keeps one value of each per-connection option for the whole
config, so blocks that end up with different values are refused.

The per-connection values live in ``ConnectionOptions``, None while not given: the parser
saves it before a block, the block's lines change it, the block keeps the result and the
parser restores the saved one. ``finish_connections`` then compares the blocks field by field
("not given" differs from any value, as in OpenVPN where each block has its own copy).

Remotes keep their transport: ``proto``/``remote ... PROTO`` may be UDP or TCP, and
``tcp-client`` is stored as ``tcp`` (a client's TCP is always the connecting side). As in
openvpn, ``--remote`` on the command line is one more remote in argv order (before a
``--config``'s remotes when given before it, after them when given after it), and like any
``remote`` line it is ignored when there are ``<connection>`` blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from vpnstack.config.lexer import COMMAND_LINE, Directive, read_directives
from vpnstack.config.model import Remote
from vpnstack.errors import ConfigError

if TYPE_CHECKING:
    from vpnstack.config.parser import Parser


@attrs.frozen
class ConnectionOptions:
    """Per-connection values as given so far; None: not given (the model's default applies).

    Each field's metadata names its directive, for the message when blocks disagree."""

    connect_retry: float | None = attrs.field(default=None, metadata={"directive": "connect-retry"})
    """``connect-retry n``."""
    connect_retry_max_delay: float | None = attrs.field(
        default=None, metadata={"directive": "connect-retry"}
    )
    """``connect-retry n max``."""
    connect_retry_max: int | None = attrs.field(
        default=None, metadata={"directive": "connect-retry-max"}
    )
    """``connect-retry-max n``."""
    server_poll_timeout: float | None = attrs.field(
        default=None, metadata={"directive": "server-poll-timeout"}
    )
    """``server-poll-timeout`` / ``connect-timeout``."""
    explicit_exit_notify: int | None = attrs.field(
        default=None, metadata={"directive": "explicit-exit-notify"}
    )
    """``explicit-exit-notify [n]``."""
    tun_mtu: int | None = attrs.field(default=None, metadata={"directive": "tun-mtu"})
    """``tun-mtu``."""
    tls_auth_key: bytes | None = attrs.field(
        default=None, repr=False, metadata={"directive": "tls-auth"}
    )
    """``tls-auth`` static key."""
    key_direction: int | None = attrs.field(default=None, metadata={"directive": "key-direction"})
    """``key-direction`` (or the direction argument of ``tls-auth``)."""
    tls_crypt_key: bytes | None = attrs.field(
        default=None, repr=False, metadata={"directive": "tls-crypt"}
    )
    """``tls-crypt`` static key."""
    tls_crypt_v2_key: bytes | None = attrs.field(
        default=None, repr=False, metadata={"directive": "tls-crypt-v2"}
    )
    """``tls-crypt-v2`` client key."""

    def has_tls_key(self) -> bool:
        """A control-channel key is in effect."""
        return any(
            k is not None for k in (self.tls_auth_key, self.tls_crypt_key, self.tls_crypt_v2_key)
        )

    def with_tls_keys_of(self, other: ConnectionOptions) -> ConnectionOptions:
        """These values with the control-channel key fields of ``other``."""
        return attrs.evolve(
            self,
            tls_auth_key=other.tls_auth_key,
            key_direction=other.key_direction,
            tls_crypt_key=other.tls_crypt_key,
            tls_crypt_v2_key=other.tls_crypt_v2_key,
        )


@attrs.define
class RemoteEntry:
    """A remote as parsed; port/proto None means "the global value at the end"."""

    host: str
    port: int | None
    proto: str | None
    line: int | None
    proto_line: int | None
    cli: bool = False
    source: str = "<string>"


@attrs.define
class Block:
    """The ``<connection>`` block being parsed."""

    line: int
    remote: RemoteEntry | None = None
    proto: str = "udp"
    proto_line: int | None = None
    port: int = 1194


@attrs.frozen
class DoneBlock:
    """A parsed ``<connection>`` block: its remote and its per-connection values."""

    line: int
    remote: RemoteEntry
    options: ConnectionOptions
    has_own_tls_key: bool
    source: str = "<string>"


@attrs.define
class Remotes:
    """The parser's remotes, blocks and global ``proto``/``port``."""

    entries: list[RemoteEntry] = attrs.Factory(list)
    proto: str = "udp"
    proto_line: int | None = None
    port: int = 1194
    block: Block | None = None
    """The ``<connection>`` block being parsed, if any."""
    blocks: list[DoneBlock] = attrs.Factory(list)


_PROTOS = (
    "udp",
    "udp4",
    "udp6",
    "tcp",
    "tcp4",
    "tcp6",
    "tcp-client",
    "tcp4-client",
    "tcp6-client",
)


def check_proto(p: Parser, d: Directive, proto: str) -> str:
    """A client protocol name, ``tcp-client`` stored as ``tcp``."""
    proto = proto.lower()
    if proto in ("tcp-server", "tcp4-server", "tcp6-server"):
        raise p.error(d, f"'{proto}' is for servers; a client uses udp or tcp-client")
    if proto not in _PROTOS:
        raise p.error(d, f"unknown protocol '{proto}'; use udp or tcp (or udp4, udp6, tcp4, tcp6)")
    return proto.removesuffix("-client")  # a client's "tcp" is tcp-client


def parse_port(p: Parser, d: Directive, text: str) -> int:
    """A port number 1..65535."""
    try:
        port = int(text, 10)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise p.error(d, f"bad port '{text}': use a number from 1 to 65535")
    return port


# --- parse functions -------------------------------------------------------------------------


def connection(p: Parser, d: Directive) -> None:
    """``<connection>``: parse the block's lines, keep its remote and per-connection values."""
    assert d.inline is not None and d.line is not None
    r = p.remotes
    if r.block is not None:
        raise p.error(d, "a <connection> block cannot contain another one")
    saved, saved_lines = p.conn, dict(p.lines)
    r.block = Block(d.line, proto=r.proto, proto_line=r.proto_line, port=r.port)
    try:
        for inner in read_directives(d.inline, d.source, first_line=d.line + 1):
            p.handle(inner)
        block = r.block
    finally:
        r.block = None
    if block.remote is None:
        raise p.error(d, "each <connection> block needs exactly one 'remote' line")
    if block.remote.proto is None:
        block.remote.proto, block.remote.proto_line = block.proto, block.proto_line
    if block.remote.port is None:
        block.remote.port = block.port
    r.blocks.append(DoneBlock(d.line, block.remote, p.conn, p.conn.has_tls_key(), d.source))
    p.conn, p.lines = saved, saved_lines


def proto(p: Parser, d: Directive) -> None:
    """``proto``: the default transport (of the block, inside one)."""
    value = check_proto(p, d, d.args[0])
    target = p.remotes.block if p.remotes.block is not None else p.remotes
    target.proto, target.proto_line = value, d.line


def port(p: Parser, d: Directive) -> None:
    """``port`` / ``rport``: the default port (of the block, inside one)."""
    value = parse_port(p, d, d.args[0])
    target = p.remotes.block if p.remotes.block is not None else p.remotes
    target.port = value


def remote(p: Parser, d: Directive) -> None:
    """``remote HOST [PORT] [PROTO]``."""
    port_ = parse_port(p, d, d.args[1]) if len(d.args) > 1 else None
    proto_ = check_proto(p, d, d.args[2]) if len(d.args) > 2 else None
    entry = RemoteEntry(
        d.args[0], port_, proto_, d.line, d.line if proto_ else None, d.cli, d.source
    )
    r = p.remotes
    if r.block is not None:
        if r.block.remote is not None:
            raise p.error(d, "a <connection> block holds exactly one 'remote' line")
        r.block.remote = entry
        return
    r.entries.append(entry)


def connect_retry(p: Parser, d: Directive) -> None:
    """``connect-retry N [MAX]``."""
    p.conn = attrs.evolve(p.conn, connect_retry=p.seconds(d, d.args[0], 0, 86400))
    if len(d.args) == 2:
        p.conn = attrs.evolve(p.conn, connect_retry_max_delay=p.seconds(d, d.args[1], 1, 86400))


def connect_retry_max(p: Parser, d: Directive) -> None:
    """``connect-retry-max N``."""
    p.conn = attrs.evolve(p.conn, connect_retry_max=p.integer(d, d.args[0], 1, 1 << 30))


def server_poll_timeout(p: Parser, d: Directive) -> None:
    """``server-poll-timeout N`` / ``connect-timeout N``."""
    p.conn = attrs.evolve(p.conn, server_poll_timeout=p.seconds(d, d.args[0], 1, 86400))


def explicit_exit_notify(p: Parser, d: Directive) -> None:
    """``explicit-exit-notify [N]`` (1 without N)."""
    count = p.integer(d, d.args[0], 0, 1 << 20) if d.args else 1
    p.conn = attrs.evolve(p.conn, explicit_exit_notify=count)


def tun_mtu(p: Parser, d: Directive) -> None:
    """``tun-mtu N``."""
    p.conn = attrs.evolve(p.conn, tun_mtu=p.integer(d, d.args[0], 68, 65535))


# --- the whole -------------------------------------------------------------------------------


def finish_connections(p: Parser) -> ConnectionOptions:
    """The per-connection values: one for all blocks, or a ConfigError saying which differs.

    Without blocks these are the global values. With blocks, the remotes become the blocks'
    and the file's other ``remote`` lines are ignored (with a warning).
    """
    r = p.remotes
    if not r.blocks:
        return p.conn
    for entry in r.entries:
        if entry.cli:
            p.warnings.append(
                f"{COMMAND_LINE}: --remote {entry.host} is ignored because the config has"
                " <connection> blocks (put it in a block of its own)"
            )
        else:
            p.warnings.append(
                f"{entry.source}:{entry.line}: 'remote {entry.host}' is ignored because the"
                " file has <connection> blocks (put it in a block of its own)"
            )
    r.entries = [b.remote for b in r.blocks]
    agreed: ConnectionOptions | None = None
    agreed_line = 0
    for block in r.blocks:
        options = block.options
        if not block.has_own_tls_key:  # OpenVPN: the global key applies to this block
            options = options.with_tls_keys_of(p.conn)
        if agreed is None:
            agreed, agreed_line = options, block.line
            continue
        for field in attrs.fields(ConnectionOptions):
            if getattr(agreed, field.name) != getattr(options, field.name):
                raise ConfigError(
                    f"'{field.metadata['directive']}' differs between the <connection> blocks"
                    f" at lines {agreed_line} and {block.line}; vpnstack uses one value"
                    " for all connections: give it once, outside the blocks",
                    path=block.source,
                    line=block.line,
                )
    assert agreed is not None
    return agreed


def finish_remotes(p: Parser) -> tuple[Remote, ...]:
    """The ``Remote`` records, with the global ``proto``/``port`` filled in."""
    r = p.remotes
    if not r.entries:
        raise p.error_at(
            None,
            f"no {p.say('remote')}{' line' if p.files_read else ''}:"
            f" add {p.say('remote HOST [PORT]')}",
        )
    remotes: list[Remote] = []
    for entry in r.entries:
        proto_ = entry.proto if entry.proto is not None else r.proto
        port_ = entry.port if entry.port is not None else r.port
        remotes.append(Remote(entry.host, port_, proto_))
    return tuple(remotes)
