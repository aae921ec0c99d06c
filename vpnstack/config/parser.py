"""The parser: directives in, one ``Config`` out.

How this works: ``Parser.handle`` looks every directive up in ``DIRECTIVES``
(``directives.py``), checks what the table says (kind, arity, inline, allowed inside a
``<connection>`` block) and calls the directive's own parse function, which checks the value
and stores it in one of the parser's typed drafts:

* ``transport``, ``tls``, ``data``, ``routing``, ``client``: the model's frozen sections
  (``model.py``) holding their defaults, replaced with ``attrs.evolve`` as values arrive (so
  mypy checks every field name and type);
* ``conn`` (``connections.ConnectionOptions``): the per-connection values, None while not
  given, saved and restored around each ``<connection>`` block;
* ``creds`` (``files.Credentials``): certificates and keys as loaded, with the objects needed
  for the checks that span several directives (``pkcs12`` against ``cert``/``key``, the key
  matching the certificate).

``finish`` checks the whole (a client config, a ``ca``, one control-channel wrapper, a
certificate or ``auth-user-pass``, ...) and builds the ``Config`` section by section.

Names not in the table are refused, unless an earlier ``ignore-unknown-option NAME``, a
``setenv opt NAME ...`` line or ``setenv FORWARD_COMPATIBLE 1`` makes them ignorable (then they
are warnings). Refused directives stay refused even then: ignoring them would break the session.

The command line is the same grammar (``load_directives``/``parse_argv``): its directives are
handled in order, ``--config FILE`` reads a file's directives at that point (``Parser.include``,
nested up to 10 levels as in openvpn), so a later value wins exactly as openvpn processes its
argv left to right. Relative paths on the command line are relative to the current directory,
which ``--cd DIR`` changes (``Parser.cwd``; the process does not chdir); in a file they are
relative to the file's folder, which its ``cd DIR`` changes for the rest of that file. The
command line cannot give inline data: ``<connection>`` (``DirectiveSpec.command_line``) and
``--ca [inline]`` are refused there.

Errors in a file are ``ConfigError(message, path=file, line=n)``; errors on the command line
have ``path="command line"`` and name the ``--option``. Checks of the whole name the directive
as a config file would (``'ca'``) when a file was read, else as an option (``--ca``). No message
or warning shows key material, passwords or inline data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TypeVar

import attrs

from vpnstack.config import connections, files
from vpnstack.config.directives import DIRECTIVES, REFUSED_PREFIXES, SERVER_ONLY, is_dns_helper
from vpnstack.config.lexer import (
    COMMAND_LINE,
    Directive,
    argv_directives,
    override_directive,
    read_directives,
)
from vpnstack.config.model import (
    DEFAULT_DATA_CIPHERS,
    ClientConfig,
    Config,
    DataChannelConfig,
    RoutingConfig,
    TLSConfig,
    TransportConfig,
)
from vpnstack.errors import ConfigError

T = TypeVar("T")


def given(value: T | None, default: T) -> T:
    """``value`` unless it was not given (None)."""
    return default if value is None else value


class Parser:
    """Collects directive values in typed drafts; ``finish`` checks the whole and builds it."""

    def __init__(
        self, source: str, base_dir: str, *, cwd: str | None = None, file_given: bool = True
    ) -> None:
        self.source = source
        """The first config file (or ``<string>``, or ``COMMAND_LINE`` before any file)."""
        self.base_dir = base_dir
        """Folder relative file names in the file being read are resolved against (``cd``)."""
        self.cwd = os.getcwd() if cwd is None else cwd
        """Folder relative file names on the command line are resolved against (``--cd``)."""
        self.files_read = file_given
        """A config file (or text) was read: whole-config messages name 'directives'."""
        self.includes: list[str] = []
        """The config files being read (``config FILE``), outermost first."""
        self.warnings: list[str] = []
        self.lines: dict[str, Directive] = {}
        """The last value-holding directive of each name, in the order they were last given,
        for whole-config errors (``remember``)."""
        # drafts of the model's sections (see the module docstring)
        self.transport = TransportConfig(remotes=())  # remotes: connections.finish_remotes
        self.tls = TLSConfig(ca=b"")  # ca/cert/key/keys: from creds and conn in finish
        self.data = DataChannelConfig()
        self.routing = RoutingConfig()
        self.client = ClientConfig()
        self.conn = connections.ConnectionOptions()
        self.creds = files.Credentials()
        self.remotes = connections.Remotes()
        # state of directives that only matter to the checks of the whole
        self.ignorable: set[str] = set()
        self.forward_compatible = False
        self.is_client = False
        self.tls_client = False
        self.pull = False
        self.dev_type_tun = False
        self.dev_at: Directive | None = None
        self.data_ciphers_set = False
        self.tls_auth_inline_at: Directive | None = None

    # --- helpers for the parse functions -----------------------------------------------------

    def error(self, d: Directive, message: str) -> ConfigError:
        """A ``ConfigError`` at ``d`` (file:line, or the command line naming ``--option``)."""
        if d.cli:
            if d.label not in message:
                message = f"{d.label}: {message}"
            return ConfigError(message, path=COMMAND_LINE)
        return ConfigError(message, path=d.source, line=d.line)

    def error_at(self, d: Directive | None, message: str) -> ConfigError:
        """A whole-config ``ConfigError``, located at ``d`` when given (else the config)."""
        if d is None:
            return ConfigError(message, path=self.source)
        if d.cli:
            return ConfigError(message, path=COMMAND_LINE)
        return ConfigError(message, path=d.source, line=d.line)

    def warn(self, d: Directive, message: str) -> None:
        """Collect a ``file:line: message`` warning."""
        where = COMMAND_LINE if d.cli else f"{d.source}:{d.line}"
        self.warnings.append(f"{where}: {message}")

    def say(self, text: str) -> str:
        """How whole-config messages name a directive: ``'ca FILE'`` or ``--ca FILE``."""
        return f"'{text}'" if self.files_read else f"--{text}"

    def remember(self, d: Directive) -> None:
        """``d`` holds the value of its name now (for whole-config errors)."""
        self.lines.pop(d.name, None)
        self.lines[d.name] = d

    def nargs(self, d: Directive, low: int, high: int | None) -> None:
        """Check the number of arguments."""
        if low <= len(d.args) and (high is None or len(d.args) <= high):
            return
        if high is None:
            want = f"at least {low}"
        else:
            want = str(low) if low == high else f"{low} to {high}"
        raise self.error(d, f"{d.label} takes {want} argument(s), got {len(d.args)}")

    def integer(self, d: Directive, text: str, low: int, high: int) -> int:
        """A decimal number in ``low..high``."""
        try:
            value = int(text, 10)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise self.error(d, f"{d.label}: bad number '{text}', use {low}..{high}")
        return value

    def seconds(self, d: Directive, text: str, low: int, high: int) -> float:
        """A whole number of seconds in ``low..high``, as a float."""
        return float(self.integer(d, text, low, high))

    # --- dispatch ----------------------------------------------------------------------------

    def handle(self, d: Directive) -> None:
        """Check ``d`` against its table entry and apply it."""
        spec = DIRECTIVES.get(d.name)
        if spec is None:
            self._unknown(d)
            return
        if d.cli and not spec.command_line:
            raise self.error(
                d,
                f"{d.label} can only be given in a config file ({spec.help}); put it in a"
                " file and add --config FILE",
            )
        if spec.kind == "refused":
            if d.name in ("up", "down") and is_dns_helper(d.args):
                # These scripts only copy pushed DNS into the resolver, which vpnstack does
                # itself: ignoring them keeps the many provider files that carry them working.
                self.warn(d, f"{d.label} is ignored (vpnstack applies and restores DNS itself)")
                return
            raise self.error(d, f"{spec.help}; {d.remove_hint}")
        if d.inline is not None:
            if not spec.inline:
                raise self.error(
                    d, f"inline block <{d.name}> is not supported; use '{d.name}' with a file"
                )
        elif d.name == "connection":
            raise self.error(d, "'connection' must be an inline <connection> block")
        else:
            self.nargs(d, spec.min_args, spec.max_args)
        if self.remotes.block is not None and not spec.connection:
            raise self.error(
                d, f"{d.label} cannot be used inside a <connection> block; move it out"
            )
        if spec.kind == "ignored":
            self.warn(d, f"{d.label} is ignored ({spec.help})")
            return
        if (
            self.remotes.block is None
            and self.remotes.blocks
            and spec.connection
            and d.name not in ("tls-auth", "tls-crypt", "tls-crypt-v2", "key-direction")
        ):
            # OpenVPN: a <connection> block copied the globals given before it
            self.warn(d, f"{d.label} is ignored: it comes after the <connection> blocks")
            return
        assert spec.parse is not None, d.name
        spec.parse(self, d)

    def _unknown(self, d: Directive) -> None:
        for prefix, what in REFUSED_PREFIXES.items():
            if d.name.startswith(prefix):
                raise self.error(d, f"{what}; {d.remove_hint}")
        if d.name in SERVER_ONLY:
            raise self.error(
                d, f"{d.label} is a server option; this must be a client config: {d.remove_hint}"
            )
        if d.inline is None and (d.name in self.ignorable or self.forward_compatible):
            self.warn(d, f"unknown directive {d.label} ignored (ignore-unknown-option/setenv opt)")
            return
        if d.inline is not None:
            raise self.error(d, f"inline block <{d.name}> is not supported; remove it")
        raise self.error(
            d,
            f"unknown {'option' if d.cli else 'directive'} {d.label}: vpnstack does not"
            " implement it; "
            + (
                "drop it"
                if d.cli
                else f"remove the line, or put 'ignore-unknown-option {d.name}' before it if"
                " the connection works without it"
            ),
        )

    def include(self, d: Directive, path: str) -> None:
        """``config FILE``: handle the file's directives here, relative to its folder."""
        if len(self.includes) >= MAX_CONFIG_DEPTH:
            raise self.error(
                d,
                f"config files nest deeper than {MAX_CONFIG_DEPTH} levels at {path!r}: does a"
                " file include itself?",
            )
        # the name as given while it is relative to the process's directory, else absolute
        shown = d.args[0] if d.cli and self.cwd == os.getcwd() else path
        try:
            text = files.read_regular_file(path).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise self.error(
                d, f"the config file {shown!r} is not UTF-8 text ({exc.reason})"
            ) from None
        except OSError as exc:
            raise self.error(d, f"cannot read the config file {shown!r}: {exc.strerror}") from None
        if not self.files_read:
            self.source, self.files_read = shown, True
        saved = self.base_dir
        self.base_dir = os.path.dirname(path)
        self.includes.append(path)
        try:
            for directive in read_directives(text, shown):
                self.handle(directive)
        finally:
            self.includes.pop()
            self.base_dir = saved

    # --- the whole ---------------------------------------------------------------------------

    def finish(self) -> Config:
        """Check the config as a whole and build it."""
        if not (self.is_client or (self.tls_client and self.pull)):
            raise self.error_at(
                None,
                f"not a client config: add {'the line ' if self.files_read else ''}"
                f"{self.say('client')} (vpnstack is an OpenVPN client)",
            )
        if self.tls_auth_inline_at is not None and self.conn.tls_auth_key is None:
            raise self.error_at(
                self.tls_auth_inline_at,
                "'tls-auth [inline]' but no <tls-auth> block: add the block or name a file",
            )
        dev = self.routing.dev
        if not dev.startswith("tun") and not self.dev_type_tun:
            raise self.error_at(
                self.dev_at,
                f"{self.say(f'dev {dev}')}: add {self.say('dev-type tun')} for a device name"
                " not starting with 'tun'",
            )
        conn = connections.finish_connections(self)
        remotes = connections.finish_remotes(self)
        if self.creds.ca is None and self.creds.pkcs12 is None:
            raise self.error_at(
                None,
                f"no {self.say('ca')}: add {self.say('ca FILE')}"
                + (" or a <ca> block" if self.files_read else "")
                + " with the server's CA certificate",
            )
        wrappers = [
            name
            for name, value in (
                ("tls-auth", conn.tls_auth_key),
                ("tls-crypt", conn.tls_crypt_key),
                ("tls-crypt-v2", conn.tls_crypt_v2_key),
            )
            if value is not None
        ]
        if len(wrappers) > 1:
            names = " and ".join(self.say(name) for name in wrappers)
            last = [d for name, d in self.lines.items() if name in wrappers]
            raise self.error_at(
                last[-1] if last else None,
                f"{names} cannot be used together; keep the one the server uses",
            )
        creds = files.finish_credentials(self)
        data = self.data
        if (
            data.cipher is not None
            and not self.data_ciphers_set
            and data.cipher not in DEFAULT_DATA_CIPHERS
        ):
            # OpenVPN 2.6: a legacy 'cipher' joins the default list when data-ciphers is unset
            data = attrs.evolve(data, ciphers=(*DEFAULT_DATA_CIPHERS, data.cipher))
        defaults = TransportConfig(remotes=())
        transport = attrs.evolve(
            self.transport,
            remotes=remotes,
            connect_retry=given(conn.connect_retry, defaults.connect_retry),
            connect_retry_max_delay=given(
                conn.connect_retry_max_delay, defaults.connect_retry_max_delay
            ),
            connect_retry_max=conn.connect_retry_max,
            server_poll_timeout=given(conn.server_poll_timeout, defaults.server_poll_timeout),
            explicit_exit_notify=given(conn.explicit_exit_notify, defaults.explicit_exit_notify),
        )
        tls = attrs.evolve(
            self.tls,
            ca=creds.ca,
            cert=creds.cert,
            key=creds.key,
            extra_certs=creds.extra_certs,
            auth_key=conn.tls_auth_key,
            key_direction=conn.key_direction,
            crypt_key=conn.tls_crypt_key,
            crypt_v2_key=conn.tls_crypt_v2_key,
        )
        return Config(
            source=self.source,
            transport=transport,
            tls=tls,
            data=data,
            routing=attrs.evolve(self.routing, tun_mtu=conn.tun_mtu),
            client=self.client,
            warnings=tuple(self.warnings),
        )


# --- public entry points ---------------------------------------------------------------------

MAX_CONFIG_DEPTH = 10
"""How deep ``config FILE`` may nest (openvpn's ``max_recursive_levels``)."""

Overrides = Sequence[Sequence[str]]
"""Command-line directives: ``[["verb", "4"], ["auth-user-pass", "/x/pass.txt"]]``."""


def load_directives(directives: Iterable[Directive], *, cwd: str | None = None) -> Config:
    """Apply command-line ``directives`` in order (``--config FILE`` reads a file there).

    This is openvpn's argv processing: a later value wins, whether from the command line or
    from a file it names. Relative paths are relative to ``cwd`` (default: the current
    directory), which ``--cd DIR`` changes. ``Config.source`` is the first config file, or
    ``"command line"`` when none is given.
    """
    parser = Parser(COMMAND_LINE, "/", cwd=cwd, file_given=False)
    for directive in directives:
        parser.handle(directive)
    return parser.finish()


def parse_argv(argv: Sequence[str], *, cwd: str | None = None) -> Config:
    """A ``Config`` from an openvpn-style argument vector (without the program name).

    ``["--config", "a.ovpn", "--verb", "4"]``, ``["a.ovpn"]``, or every option on the command
    line and no file at all, as NetworkManager runs openvpn.
    """
    return load_directives(argv_directives(argv), cwd=cwd)


def load_config(path: str, *, overrides: Overrides = ()) -> Config:
    """Parse the .ovpn file at ``path``, then apply ``overrides`` (later wins, like openvpn).

    The same as the command line ``--config PATH --name args...``. Raises ``ConfigError`` with
    file:line for bad input, or ``path="command line"`` and the ``--option`` named in the
    message for a bad override (or an unreadable ``path``).
    """
    config = Directive("config", (path,), None, cli=True, source=COMMAND_LINE)
    return load_directives([config, *(override_directive(o) for o in overrides)])


def parse_config(
    text: str,
    *,
    source: str = "<string>",
    base_dir: str | None = None,
    overrides: Overrides = (),
) -> Config:
    """Parse .ovpn ``text``; file arguments are relative to ``base_dir`` (default: cwd).

    Command-line overrides are further directives applied after the file, so the later value
    wins as in OpenVPN; their relative paths are relative to the current directory.
    """
    parser = Parser(source, base_dir if base_dir is not None else os.getcwd())
    for directive in read_directives(text, source):
        parser.handle(directive)
    for override in overrides:
        parser.handle(override_directive(override))
    return parser.finish()
