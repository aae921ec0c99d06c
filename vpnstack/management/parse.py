"""Reading management commands: bytes to lines, lines to parameters.

How this works: ``LineReader`` collects what a connection sends and hands out complete lines.
Like stock's ``command_line_add`` it keeps only printable characters and the newline (so
``\\r\\n`` and ``\\n`` both end a line, and NULs or escape sequences vanish); unlike stock, which
silently truncates at 1 KiB, a line longer than ``max_line`` bytes is an error the caller
answers by dropping the connection. Bytes are UTF-8 (invalid sequences become U+FFFD).

``split_command`` is the config-file lexer of OpenVPN (``parse_line`` in options_parse.c,
"Command Parsing" in management-notes.txt): whitespace separates parameters, ``"..."`` and
``'...'`` enclose them, and outside single quotes a backslash escapes ``\\``, ``"`` or a space;
any other escape, or an unclosed quote, is an error with stock's message. A ``#`` or ``;``
where a parameter would start ends the line. At most 16 parameters are read (MAX_PARMS).
Unlike stock, a parameter may be longer than 256 characters: stock's error for that case
repeats the parameter, which for ``password`` is the secret.
"""

from __future__ import annotations

MAX_PARMS = 16
"""Parameters read from one line (options.h MAX_PARMS); the rest is ignored."""

_SOURCE = "TCP:0"
"""What stock's parser names as file:line for management commands (manage.c passes "TCP", 0)."""


_DROPPED = bytes(range(0x09)) + bytes(range(0x0A, 0x20)) + b"\x7f"
"""Control characters (all but tab) and DEL, removed from command lines."""


class CommandSyntaxError(Exception):
    """A line the lexer rejects; ``str()`` is the reply line, ``ERROR: Options ...``."""


class LineTooLong(Exception):
    """A connection sent more than ``max_line`` bytes without a newline."""


class LineReader:
    """Splits a byte stream into command lines, bounded in memory."""

    def __init__(self, max_line: int = 65536) -> None:
        self._max_line = max_line
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """Add received bytes; return the lines they complete (without the newline).

        Raises ``LineTooLong`` when the unfinished line exceeds the bound.
        """
        lines: list[str] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            self._add(data[start:end])
            lines.append(self._buffer.decode("utf-8", errors="replace"))
            self._buffer.clear()
            start = end + 1
        self._add(data[start:])
        return lines

    def _add(self, chunk: bytes) -> None:
        # Printable ASCII, tab and anything >= 0x80 (UTF-8) is kept; stock keeps printable
        # characters only (a tab is a space to the lexer, so it is kept as one).
        kept = chunk.translate(None, _DROPPED)
        if len(self._buffer) + len(kept) > self._max_line:
            self._buffer.clear()
            raise LineTooLong(f"command line longer than {self._max_line} bytes")
        self._buffer += kept


def _is_space(char: str) -> bool:
    return char == "" or char.isspace()


def split_command(line: str) -> list[str]:
    """Split one command line into parameters (see the module docstring)."""
    params: list[str] = []
    current: list[str] = []
    state = "initial"  # initial | unquoted | quoted | squoted
    backslash = False
    for char in [*line, ""]:
        out = ""
        if not backslash and char == "\\" and state != "squoted":
            backslash = True
            continue
        done = False
        if state == "initial":
            if not _is_space(char):
                if char in (";", "#"):
                    break
                if not backslash and char == '"':
                    state = "quoted"
                elif not backslash and char == "'":
                    state = "squoted"
                else:
                    out = char
                    state = "unquoted"
        elif state == "unquoted":
            if not backslash and _is_space(char):
                done = True
            else:
                out = char
        elif state == "quoted":
            if not backslash and char == '"':
                done = True
            else:
                out = char
        elif char == "'":  # squoted
            done = True
        else:
            out = char
        if done:
            params.append("".join(current))
            current = []
            state = "initial"
        if backslash and out and not (out in ("\\", '"') or _is_space(out)):
            raise CommandSyntaxError(
                f"ERROR: Options warning: Bad backslash ('\\') usage in {_SOURCE}: remember"
                " that backslashes are treated as shell-escapes and if you need to pass"
                " backslash characters as part of a Windows filename, you should use double"
                ' backslashes such as "c:\\\\openvpn\\\\static.key"'
            )
        backslash = False
        if out:
            current.append(out)
        if len(params) >= MAX_PARMS:
            return params
    if state == "quoted":
        raise CommandSyntaxError(f'ERROR: Options error: No closing quotation (") in {_SOURCE}')
    if state == "squoted":
        raise CommandSyntaxError(
            f"ERROR: Options error: No closing single quotation (') in {_SOURCE}"
        )
    return params


def quote(param: str) -> str:
    """Quote a parameter so that ``split_command`` gives it back unchanged (for clients/tests)."""
    escaped = param.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
