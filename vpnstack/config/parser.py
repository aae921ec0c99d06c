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

Errors in a file are ``ConfigError(message, path=file, line=n)``; errors in a command-line
override have ``path="command line"`` and name the ``--option``. No message or warning shows
key material, passwords or inline data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

import attrs

from vpnstack.config import connections, files
from vpnstack.config.directives import DIRECTIVES, REFUSED_PREFIXES, SERVER_ONLY, is_dns_helper
from vpnstack.config.lexer import COMMAND_LINE, Directive, override_directive, read_directives
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

    def __init__(self, source: str, base_dir: str) -> None:
        self.source = source
        """Path of the config file (or ``<string>``), for messages."""
        self.base_dir = base_dir
        """Folder relative file names are resolved against (``cd`` changes it)."""
        self.warnings: list[str] = []
        self.lines: dict[str, int | None] = {}
        """Line of the last value-holding directive of each name, for whole-config errors."""
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
        self.dev_line: int | None = None
        self.data_ciphers_set = False
        self.in_overrides = False
        self.tls_auth_inline_line: int | None = None

    # --- helpers for the parse functions -----------------------------------------------------

    def error(self, d: Directive, message: str) -> ConfigError:
        """A ``ConfigError`` at ``d`` (file:line, or the command line naming ``--option``)."""
        if d.cli:
            if d.label not in message:
                message = f"{d.label}: {message}"
            return ConfigError(message, path=COMMAND_LINE)
        return ConfigError(message, path=self.source, line=d.line)

    def warn(self, d: Directive, message: str) -> None:
        """Collect a ``file:line: message`` warning."""
        where = COMMAND_LINE if d.cli else f"{self.source}:{d.line}"
        self.warnings.append(f"{where}: {message}")

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

    def begin_overrides(self) -> None:
        """The directives from now on come from the command line."""
        self.in_overrides = True

    def handle(self, d: Directive) -> None:
        """Check ``d`` against its table entry and apply it."""
        spec = DIRECTIVES.get(d.name)
        if spec is None:
            self._unknown(d)
            return
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
            and not (d.cli and d.name == "remote")
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
            f"unknown directive {d.label}: vpnstack does not implement it; "
            + (
                "drop it"
                if d.cli
                else f"remove the line, or put 'ignore-unknown-option {d.name}' before it if"
                " the connection works without it"
            ),
        )

    # --- the whole ---------------------------------------------------------------------------

    def finish(self) -> Config:
        """Check the config as a whole and build it."""
        src = self.source
        if not (self.is_client or (self.tls_client and self.pull)):
            raise ConfigError(
                "not a client config: add the line 'client' (vpnstack is an OpenVPN client)",
                path=src,
            )
        if self.tls_auth_inline_line is not None and self.conn.tls_auth_key is None:
            raise ConfigError(
                "'tls-auth [inline]' but no <tls-auth> block: add the block or name a file",
                path=src,
                line=self.tls_auth_inline_line,
            )
        dev = self.routing.dev
        if not dev.startswith("tun") and not self.dev_type_tun:
            raise ConfigError(
                f"'dev {dev}': add 'dev-type tun' for a device name not starting with 'tun'",
                path=src,
                line=self.dev_line,
            )
        conn = connections.finish_connections(self)
        remotes = connections.finish_remotes(self)
        if self.creds.ca is None and self.creds.pkcs12 is None:
            raise ConfigError(
                "no 'ca': add 'ca FILE' or a <ca> block with the server's CA certificate",
                path=src,
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
            names = " and ".join(f"'{name}'" for name in wrappers)
            raise ConfigError(
                f"{names} cannot be used together; keep the one the server uses",
                path=src,
                line=max((self.lines.get(name) or 0 for name in wrappers), default=None) or None,
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
            source=src,
            transport=transport,
            tls=tls,
            data=data,
            routing=attrs.evolve(self.routing, tun_mtu=conn.tun_mtu),
            client=self.client,
            warnings=tuple(self.warnings),
        )


# --- public entry points ---------------------------------------------------------------------

Overrides = Sequence[Sequence[str]]
"""Command-line directives: ``[["verb", "4"], ["auth-user-pass", "/x/pass.txt"]]``."""


def load_config(path: str, *, overrides: Overrides = ()) -> Config:
    """Parse the .ovpn file at ``path``, then apply ``overrides`` (later wins, like openvpn).

    Raises ``ConfigError`` with file:line for bad input, or ``path="command line"`` and the
    ``--option`` named in the message for a bad override.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the file is not UTF-8 text ({exc.reason})", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=path) from None
    return parse_config(
        text,
        source=path,
        base_dir=os.path.dirname(os.path.abspath(path)),
        overrides=overrides,
    )


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
    parser.begin_overrides()
    for override in overrides:
        parser.handle(override_directive(override))
    return parser.finish()
