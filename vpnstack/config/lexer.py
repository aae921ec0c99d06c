"""Splitting .ovpn text into directives, exactly as OpenVPN does.

How this works: the text is split into *directives* the way OpenVPN's own ``parse_line`` and
``read_config_file`` do (options_parse.c): one per line; ``#``/``;`` start a comment wherever an
argument could start; an optional leading ``--``; double quotes with the backslash escapes
``\\\\``, ``\\"`` and ``\\<space>`` (any other backslash is an error, as in OpenVPN, because it
is almost always an unescaped Windows path); single quotes taken literally; and a line whose
only token is ``<tag>`` opens an inline block that runs to ``</tag>`` and counts as the
directive ``tag`` with inline data (``<connection>`` blocks are lexed again, recursively, by
``connections.py``).

The command line is the same grammar (``argv_directives``, openvpn's ``parse_argv`` in
options_parse.c): every ``--name`` starts a directive and the arguments after it that do not
start with ``--`` are its arguments; a bare first argument is a config file
(``--config FILE``). Those directives are the same ``Directive`` records with ``cli=True``, so
every later stage handles both alike and only the messages differ (``--name`` instead of
``'name'``, ``command line`` instead of file:line).

Nothing here knows what a directive means; errors are ``ConfigError`` with file:line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from vpnstack.errors import ConfigError

COMMAND_LINE = "command line"
"""``ConfigError.path`` (and the warning prefix) of errors in overrides."""

NEWLINE = re.compile(r"\r\n|\r|\n")
"""Line ends as OpenVPN accepts them."""


@attrs.frozen
class Directive:
    """One directive: its name, arguments, the line it starts on, inline data if any."""

    name: str
    """The directive name without a leading ``--``."""
    args: tuple[str, ...]
    """Its arguments, unquoted."""
    line: int | None
    """The line it starts on (None on the command line)."""
    inline: str | None = attrs.field(default=None, repr=False)
    """The body of an inline ``<name>...</name>`` block (may be key material: not shown)."""
    cli: bool = False
    """It comes from the command line."""
    source: str = "<string>"
    """The file it was read from (``COMMAND_LINE`` for the command line), for messages."""

    @property
    def label(self) -> str:
        """How messages name it: ``'verb'`` in a file, ``--verb`` on the command line."""
        return f"--{self.name}" if self.cli else f"'{self.name}'"

    @property
    def remove_hint(self) -> str:
        """How messages say to get rid of it."""
        return f"drop --{self.name}" if self.cli else f"remove the '{self.name}' line"


_ESCAPABLE = frozenset('\\"')


def split_line(line: str, *, source: str = "<string>", lineno: int = 0) -> list[str]:
    """Split one config line into arguments like OpenVPN's ``parse_line`` (options_parse.c)."""
    tokens: list[str] = []
    i, n = 0, len(line)

    def bad_backslash() -> ConfigError:
        return ConfigError(
            "a backslash may only escape a backslash, a double quote or a space; write"
            ' Windows paths with double backslashes ("C:\\\\dir\\\\file") or in single quotes',
            path=source,
            line=lineno,
        )

    def escaped(j: int) -> str:
        if j + 1 >= n:
            raise ConfigError("a backslash ends the line", path=source, line=lineno)
        c = line[j + 1]
        if c not in _ESCAPABLE and not c.isspace():
            raise bad_backslash()
        return c

    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
            continue
        if c in "#;":  # a comment starts wherever an argument could start
            break
        out: list[str] = []
        if c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ConfigError("unterminated double quote", path=source, line=lineno)
                c = line[i]
                if c == "\\":
                    out.append(escaped(i))
                    i += 2
                    continue
                i += 1
                if c == '"':
                    break
                out.append(c)
        elif c == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ConfigError("unterminated single quote", path=source, line=lineno)
            out.append(line[i + 1 : end])
            i = end + 1
        else:
            while i < n and not line[i].isspace():
                c = line[i]
                if c == "\\":
                    out.append(escaped(i))
                    i += 2
                    continue
                out.append(c)
                i += 1
        tokens.append("".join(out))
    return tokens


def read_directives(text: str, source: str, first_line: int = 1) -> list[Directive]:
    """Turn config text into directives, folding ``<tag>...</tag>`` blocks into one each."""
    result: list[Directive] = []
    lines = NEWLINE.split(text)
    i = 0
    while i < len(lines):
        lineno = first_line + i
        tokens = split_line(lines[i], source=source, lineno=lineno)
        i += 1
        if not tokens:
            continue
        first = tokens[0].removeprefix("--")
        if len(tokens) == 1 and len(first) > 2 and first[0] == "<" and first[-1] == ">":
            tag = first[1:-1]
            if tag.startswith("/"):
                raise ConfigError(
                    f"{first} without a matching opening tag", path=source, line=lineno
                )
            end_tag = f"</{tag}>"
            body: list[str] = []
            while i < len(lines) and not lines[i].lstrip().startswith(end_tag):
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ConfigError(
                    f"inline block <{tag}> has no closing {end_tag}", path=source, line=lineno
                )
            i += 1
            result.append(Directive(tag, (), lineno, "\n".join(body) + "\n", source=source))
            continue
        if first.startswith("</"):
            raise ConfigError(f"{first} without a matching opening tag", path=source, line=lineno)
        result.append(Directive(first, tuple(tokens[1:]), lineno, source=source))
    return result


def override_directive(override: Sequence[str]) -> Directive:
    """A command-line override (``["verb", "4"]`` or ``["--verb", "4"]``) as a directive."""
    if isinstance(override, str) or not override or not override[0].strip("-"):
        raise ConfigError(
            "an override must be a directive and its arguments, e.g. ['verb', '4']",
            path=COMMAND_LINE,
        )
    name = override[0].removeprefix("--")
    return Directive(name, tuple(override[1:]), None, cli=True, source=COMMAND_LINE)


def argv_directives(argv: Sequence[str]) -> list[Directive]:
    """The command line's directives, split as openvpn's ``parse_argv`` does.

    Each ``--name`` starts a directive; the arguments up to the next one starting with ``--``
    are its arguments (so an argument can never start with ``--``, as in openvpn). A bare
    first argument is the config file: ``vpnstack-client FILE`` is ``--config FILE`` (openvpn
    accepts that form only when the file is the only argument; vpnstack also when options
    follow). Nothing here knows what a name means: ``--help``, unknown names and arity are
    for the caller.
    """
    result: list[Directive] = []
    i = 0
    if argv and not argv[0].startswith("-"):
        result.append(Directive("config", (argv[0],), None, cli=True, source=COMMAND_LINE))
        i = 1
    while i < len(argv):
        token = argv[i]
        name = token[2:]
        if not token.startswith("--") or not name or name.startswith("-"):
            # only possible first ("-h") or as "--"/"---x": other bare words are arguments
            raise ConfigError(
                f"'{token}' is not an option: options are --NAME followed by their arguments,"
                " e.g. --verb 4 (see --help)",
                path=COMMAND_LINE,
            )
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        result.append(Directive(name, tuple(argv[i + 1 : j]), None, cli=True, source=COMMAND_LINE))
        i = j
    return result
