"""Whatever a management client sends, the core answers without raising (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vpnstack.management import events as ev
from vpnstack.management.core import ManagementCore
from vpnstack.management.parse import quote, split_command
from vpnstack.management.settings import ManagementSettings

WORDS = st.sampled_from(
    ["state", "log", "echo", "hold", "password", "username", "signal", "bytecount", "verb",
     "mute", "auth-retry", "version", "on", "off", "all", "release", "Auth", '"', "'", "\\",
     "SIGUSR1", "-1", "0", "3", "#", ";", "\t", "status", "help", "cr-response"]
)  # fmt: skip


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.one_of(st.binary(max_size=64), WORDS.map(str.encode)), max_size=30))
def test_any_input_is_answered_without_raising(chunks: list[bytes]) -> None:
    core = ManagementCore(ManagementSettings(max_line=256), pid=1)
    core.connect(1, 0.0)
    core.handle_event(ev.NeedPassword(), 0.0)
    for i, chunk in enumerate(chunks):
        for item in core.receive(1, chunk + (b"\n" if i % 2 else b" "), float(i)):
            if isinstance(item, ev.ToClient):
                assert item.data.endswith(b"\r\n")
        core.on_timer(float(i))


@settings(database=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20), max_size=8))
def test_quoted_parameters_round_trip(params: list[str]) -> None:
    line = " ".join(quote(p) for p in params)
    assert split_command(line) == params
