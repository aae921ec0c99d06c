"""The traffic summary of ``--status FILE SECONDS`` and SIGUSR2.

How this works: ``summarize`` reads the counters the layers already keep (``statistics()``):
bytes on the wire from networkio, IP packets through the tun layer, packets through the data
channel. ``status_text`` renders them in the shape of openvpn's client status file
(``OpenVPN STATISTICS`` ... ``END``), so tools that read that file keep working.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping

import attrs

BENCH_STATS_ENV = "VPNSTACK_BENCH_STATS"
"""If set, a file where every status write also puts every layer's statistics as JSON
(``scripts/bench`` reads drops per layer and batch sizes per hop from it)."""


@attrs.frozen
class TrafficSummary:
    """Bytes and packets in and out of the tunnel so far."""

    wire_bytes_in: int
    """Bytes received from the server (UDP payload)."""
    wire_bytes_out: int
    """Bytes sent to the server (UDP payload)."""
    tun_packets_in: int
    """IP packets delivered to the TUN device (from the server)."""
    tun_packets_out: int
    """IP packets read from the TUN device (to the server)."""
    drops: int
    """Packets dropped by any layer, for any reason."""


def summarize(statistics: Mapping[str, object]) -> TrafficSummary:
    """Collect the summary from the layers' statistics records."""

    def number(layer: str, field: str) -> int:
        value = getattr(statistics.get(layer), field, 0)
        return value if isinstance(value, int) else 0

    drops = 0
    for record in statistics.values():
        counts = getattr(record, "drops", {})
        if isinstance(counts, dict):
            drops += sum(v for v in counts.values() if isinstance(v, int))
    return TrafficSummary(
        wire_bytes_in=number("networkio", "bytes_in"),
        wire_bytes_out=number("networkio", "bytes_out"),
        tun_packets_in=number("tun", "packets_up"),
        tun_packets_out=number("tun", "packets_down"),
        drops=drops,
    )


def status_line(summary: TrafficSummary) -> str:
    """One line for SIGUSR2."""
    return (
        f"Traffic: {summary.wire_bytes_in} bytes in, {summary.wire_bytes_out} bytes out; "
        f"{summary.tun_packets_in} packets to the TUN, {summary.tun_packets_out} from it; "
        f"{summary.drops} dropped"
    )


def status_text(summary: TrafficSummary, *, now: float | None = None) -> str:
    """The status file, in openvpn's client format."""
    updated = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(now))
    return (
        "OpenVPN STATISTICS\n"
        f"Updated,{updated}\n"
        f"TUN/TAP read packets,{summary.tun_packets_out}\n"
        f"TUN/TAP write packets,{summary.tun_packets_in}\n"
        f"TCP/UDP read bytes,{summary.wire_bytes_in}\n"
        f"TCP/UDP write bytes,{summary.wire_bytes_out}\n"
        f"Dropped packets,{summary.drops}\n"
        "END\n"
    )


def layer_statistics_json(statistics: Mapping[str, object]) -> str:
    """Every layer's statistics record as JSON (attrs records as objects, the rest as text)."""

    def plain(value: object) -> object:
        if attrs.has(type(value)):
            return {k: plain(v) for k, v in attrs.asdict(value, recurse=False).items()}  # type: ignore[arg-type]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return str(value)

    return json.dumps({name: plain(record) for name, record in statistics.items()}, indent=1)


def write_bench_statistics(statistics: Mapping[str, object]) -> None:
    """Write ``layer_statistics_json`` to ``$VPNSTACK_BENCH_STATS`` when that is set."""
    path = os.environ.get(BENCH_STATS_ENV)
    if path:
        write_status_file(path, layer_statistics_json(statistics))


def write_status_file(path: str, text: str) -> None:
    """Replace ``path`` atomically, so a reader never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".vpnstack-status-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
