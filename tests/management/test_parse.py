"""The command lexer and line reader, against management-notes.txt "Command Parsing"
(lines 1262-1281 of the notes at OpenVPN 3de9260) and options_parse.c parse_line."""

from __future__ import annotations

import pytest

from vpnstack.management.parse import (
    MAX_PARMS,
    CommandSyntaxError,
    LineReader,
    LineTooLong,
    quote,
    split_command,
)


@pytest.mark.parametrize(
    ("line", "params"),
    [
        ("state on all", ["state", "on", "all"]),
        ("  hold   release  ", ["hold", "release"]),
        ('password "Private Key" foo', ["password", "Private Key", "foo"]),
        # notes line 324: special characters escaped inside quotes
        ('password "Private Key" "foo\\"bar"', ["password", "Private Key", 'foo"bar']),
        ('password "Auth" "pa\\"ss"', ["password", "Auth", 'pa"ss']),
        # notes lines 1275-1279: \\ -> \, \" -> ", \<space> -> space
        ("username Auth a\\\\b", ["username", "Auth", "a\\b"]),
        ("username Auth a\\ b", ["username", "Auth", "a b"]),
        ('username Auth \\"x', ["username", "Auth", '"x']),
        # single quotes: no escaping inside
        ("password 'Auth' 'a\\b \"c'", ["password", "Auth", 'a\\b "c']),
        ('password "Auth" ""', ["password", "Auth", ""]),
        ("hold # a comment", ["hold"]),
        ("; only a comment", []),
        ("", []),
        ("echo\ton", ["echo", "on"]),
    ],
)
def test_split_command(line: str, params: list[str]) -> None:
    assert split_command(line) == params


def test_unclosed_quotes_are_stock_errors() -> None:
    with pytest.raises(CommandSyntaxError) as info:
        split_command('password "Auth" "abc')
    assert str(info.value) == 'ERROR: Options error: No closing quotation (") in TCP:0'
    with pytest.raises(CommandSyntaxError) as info:
        split_command("password 'Auth")
    assert str(info.value) == "ERROR: Options error: No closing single quotation (') in TCP:0"


def test_bad_backslash_is_an_error_that_does_not_repeat_the_line() -> None:
    with pytest.raises(CommandSyntaxError) as info:
        split_command('password "Auth" "se\\cret"')
    message = str(info.value)
    assert message.startswith("ERROR: Options warning: Bad backslash ('\\') usage in TCP:0")
    assert "cret" not in message


def test_at_most_max_parms_parameters() -> None:
    assert len(split_command(" ".join(["x"] * 40))) == MAX_PARMS


@pytest.mark.parametrize("value", ['pa"ss', "a\\b", "with space", "", "'q'", "#x;y"])
def test_quote_round_trips(value: str) -> None:
    assert split_command(f"password Auth {quote(value)}") == ["password", "Auth", value]


def test_line_reader_splits_crlf_and_partial_lines() -> None:
    reader = LineReader()
    assert reader.feed(b"sta") == []
    assert reader.feed(b"te\r\nhold\nlog o") == ["state", "hold"]
    assert reader.feed(b"n\r\n") == ["log on"]


def test_line_reader_drops_control_characters() -> None:
    assert LineReader().feed(b"pi\x00d\x1b\x7f\r\n") == ["pid"]


def test_line_reader_keeps_utf8() -> None:
    assert LineReader().feed("password Auth pässwörd\n".encode()) == ["password Auth pässwörd"]


def test_line_reader_bounds_a_line_without_newline() -> None:
    reader = LineReader(max_line=10)
    assert reader.feed(b"0123456789\n") == ["0123456789"]
    with pytest.raises(LineTooLong):
        reader.feed(b"01234567890")
