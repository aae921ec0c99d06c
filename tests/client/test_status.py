"""The traffic summary (SIGUSR2 and --status) from the layers' own counters."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from vpnstack.client.status import status_line, status_text, summarize, write_status_file


@attrs.frozen
class Net:
    bytes_in: int
    bytes_out: int
    drops: dict[str, int]


@attrs.frozen
class Tun:
    packets_up: int
    packets_down: int
    drops: dict[str, int]


def test_summary_reads_every_layer_and_sums_all_drops() -> None:
    stats = {
        "networkio": Net(1000, 2000, {"muxer-busy": 2}),
        "tun": Tun(7, 9, {}),
        "datachannel": Tun(0, 0, {"replay-duplicate": 3}),
    }
    summary = summarize(stats)
    assert (summary.wire_bytes_in, summary.wire_bytes_out) == (1000, 2000)
    assert (summary.tun_packets_in, summary.tun_packets_out) == (7, 9)
    assert summary.drops == 5
    assert status_line(summary) == (
        "Traffic: 1000 bytes in, 2000 bytes out; 7 packets to the TUN, 9 from it; 5 dropped"
    )
    text = status_text(summary, now=0)
    assert text.startswith("OpenVPN STATISTICS\nUpdated,")
    assert "TCP/UDP read bytes,1000\n" in text and "TUN/TAP read packets,9\n" in text
    assert text.endswith("END\n")


def test_status_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "status.txt"
    write_status_file(str(path), "first\n")
    write_status_file(str(path), "second\n")
    assert path.read_text() == "second\n"
    assert [p.name for p in tmp_path.iterdir()] == ["status.txt"]  # no temp file left


def test_bench_statistics_are_every_layers_record_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vpnstack.client.status import BENCH_STATS_ENV, write_bench_statistics

    stats = {"networkio": Net(5, 6, {"muxer-busy": 2}), "other": "text"}
    write_bench_statistics(stats)  # not set: nothing written
    assert list(tmp_path.iterdir()) == []
    path = tmp_path / "stats.json"
    monkeypatch.setenv(BENCH_STATS_ENV, str(path))
    write_bench_statistics(stats)
    assert json.loads(path.read_text()) == {
        "networkio": {"bytes_in": 5, "bytes_out": 6, "drops": {"muxer-busy": 2}},
        "other": "text",
    }
