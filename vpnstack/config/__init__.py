"""Client configuration: ``load_config`` for .ovpn files, the typed ``Config``, ``DIRECTIVES``.

How this works, module by module:

* ``lexer.py`` splits the text into directives exactly as OpenVPN does (quotes, escapes,
  comments, ``--``, inline ``<tag>...</tag>`` blocks);
* ``directives.py`` declares every directive once: arity, help, kind (implemented, ignored
  with a warning, refused with a ``ConfigError`` saying what to change) and, when
  implemented, the function that parses its value;
* ``parser.py`` dispatches each directive through that table into typed drafts of the
  model's sections and checks the whole at the end; ``handlers.py`` holds the parse functions
  of plain values, ``files.py`` those reading certificates and keys (so a broken file is
  reported at the line naming it), ``connections.py`` remotes and ``<connection>`` blocks;
* ``model.py`` is the result: ``Config(source, warnings, transport, tls, data, routing,
  client)``, frozen, with one-line docstrings on every field.

The command line is the same grammar: ``parse_argv(argv)`` (``argv_directives`` then
``load_directives``) handles ``--name args`` in order, reading a ``--config FILE`` where it
stands, so later values win as in openvpn; ``load_config(path, overrides=...)`` is
``--config path`` followed by the overrides.

Errors carry file:line (``ConfigError.path``/``.line``), or ``path="command line"`` for
the command line. ``repr(Config)``, the warnings and every ``ConfigError`` leave out keys, passwords
and inline data. ``require_supported(config)`` is the hook for parsed features the stack cannot
speak yet (none at present).

This package depends on no protocol core but ``core.shared`` (compression framing names) and
``core.controlchannel.statickey`` (static key files).
"""

from vpnstack.config.directives import (
    DIRECTIVES,
    INLINE_TAGS,
    TOPICS,
    DirectiveSpec,
    Kind,
)
from vpnstack.config.lexer import COMMAND_LINE, Directive, argv_directives, split_line
from vpnstack.config.model import (
    DEFAULT_DATA_CIPHERS,
    ClientConfig,
    Config,
    ConfiguredRoute,
    ConfiguredRoute6,
    DataChannelConfig,
    Remote,
    RoutingConfig,
    TLSConfig,
    TransportConfig,
    require_supported,
)
from vpnstack.config.parser import (
    MAX_CONFIG_DEPTH,
    Overrides,
    load_config,
    load_directives,
    parse_argv,
    parse_config,
)

__all__ = [
    "COMMAND_LINE",
    "DEFAULT_DATA_CIPHERS",
    "DIRECTIVES",
    "INLINE_TAGS",
    "MAX_CONFIG_DEPTH",
    "TOPICS",
    "ClientConfig",
    "Config",
    "ConfiguredRoute",
    "ConfiguredRoute6",
    "DataChannelConfig",
    "Directive",
    "DirectiveSpec",
    "Kind",
    "Overrides",
    "Remote",
    "RoutingConfig",
    "TLSConfig",
    "TransportConfig",
    "argv_directives",
    "load_config",
    "load_directives",
    "parse_argv",
    "parse_config",
    "require_supported",
    "split_line",
]
