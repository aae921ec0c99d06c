"""The kernel TUN device and KernelTunEndpoint.

Without root: the errno -> error mapping, name checks, and the endpoint's batching, write
drops and close semantics on a SOCK_SEQPACKET socketpair (which, like a TUN descriptor, keeps
one packet per read/write). With root, in a namespace of their own: the kernel answers echo
requests written to the TUN, read back in batches, across several stack lifetimes.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Iterator

import pytest
import trio

from tests.system.conftest import StartChild
from tests.system.nstools import Namespaces, info_to_json, ip
from vpnstack.errors import ConfigError, VPNError
from vpnstack.icmp import build_echo_request, build_echo_request6, parse_echo_reply
from vpnstack.layers.tun import BATCH_CAP, TunEndpoint
from vpnstack.messages import TunnelInfo
from vpnstack.system.tundev import (
    KernelTunEndpoint,
    TunDevice,
    TunPermissionError,
    open_tun,
    tun_open_error,
)

# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.EPERM, errno.EACCES])
def test_permission_errors_say_root_or_cap_net_admin(code: int) -> None:
    error = tun_open_error(PermissionError(code, os.strerror(code)), "tun%d")
    assert isinstance(error, TunPermissionError)
    assert isinstance(error, VPNError)
    assert "root" in str(error)
    assert "CAP_NET_ADMIN" in str(error)


@pytest.mark.parametrize("code", [errno.ENOENT, errno.ENODEV])
def test_missing_tun_driver_is_a_clear_vpn_error(code: int) -> None:
    error = tun_open_error(OSError(code, os.strerror(code)), "tun%d")
    assert type(error) is VPNError
    assert "/dev/net/tun" in str(error)
    assert "modprobe tun" in str(error)


def test_busy_name_and_other_errors() -> None:
    busy = tun_open_error(OSError(errno.EBUSY, "busy"), "tun7")
    assert "'tun7'" in str(busy) and "already in use" in str(busy)
    other = tun_open_error(OSError(errno.EIO, "I/O error"), "tun7")
    assert type(other) is VPNError and "I/O error" in str(other)


@pytest.mark.parametrize("name", ["", "a-name-far-too-long", "tun/0", " "])
def test_impossible_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid TUN device name"):
        open_tun(name)


# --- the endpoint on a packet-preserving socketpair ------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[KernelTunEndpoint, socket.socket]]:
    """An endpoint on one end of a SOCK_SEQPACKET pair; the test plays the kernel on the other."""
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    kernel.setblocking(False)
    endpoint = KernelTunEndpoint(TunDevice(ours.detach(), "fake0"))
    yield endpoint, kernel
    endpoint.close()
    kernel.close()


def test_kernel_endpoint_is_a_tun_endpoint(pair: tuple[KernelTunEndpoint, socket.socket]) -> None:
    endpoint: TunEndpoint = pair[0]
    assert endpoint.drops() == {}


async def test_read_drains_what_is_queued_up_to_the_cap(
    pair: tuple[KernelTunEndpoint, socket.socket],
) -> None:
    endpoint, kernel = pair
    packets = [bytes([i]) * (20 + i) for i in range(BATCH_CAP + 6)]
    for packet in packets:
        kernel.send(packet)
    with trio.fail_after(1):
        first = await endpoint.read_batch()
        second = await endpoint.read_batch()
    assert first == packets[:BATCH_CAP]
    assert second == packets[BATCH_CAP:]
    assert endpoint.largest_batch == BATCH_CAP


async def test_read_waits_for_the_first_packet(
    pair: tuple[KernelTunEndpoint, socket.socket],
) -> None:
    endpoint, kernel = pair
    got: list[list[bytes]] = []

    async def reader() -> None:
        got.append(await endpoint.read_batch())

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.sleep(0.05)
            assert got == []
            kernel.send(b"late packet")
    assert got == [[b"late packet"]]


async def test_write_keeps_packet_boundaries_and_drops_what_the_kernel_refuses(
    pair: tuple[KernelTunEndpoint, socket.socket],
) -> None:
    endpoint, kernel = pair
    huge = b"x" * (kernel.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) * 4)
    await endpoint.write_batch([b"one", huge, b"", b"two"])
    assert [kernel.recv(100), kernel.recv(100)] == [b"one", b"two"]
    assert endpoint.drops() == {"too-large": 1, "empty-packet": 1}


async def test_write_waits_for_room_instead_of_dropping(
    pair: tuple[KernelTunEndpoint, socket.socket],
) -> None:
    endpoint, kernel = pair
    packets = [i.to_bytes(4, "big") * 2000 for i in range(200)]  # far more than the buffer
    received: list[bytes] = []

    async def slow_kernel() -> None:
        while len(received) < len(packets):
            await trio.sleep(0.01)
            while True:
                try:
                    received.append(kernel.recv(65536))
                except BlockingIOError:
                    break

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow_kernel)
            await endpoint.write_batch(packets)
    assert received == packets
    assert endpoint.drops() == {}


async def test_close_wakes_a_waiting_reader_with_end_of_channel(
    pair: tuple[KernelTunEndpoint, socket.socket],
) -> None:
    endpoint, _ = pair
    outcome: list[str] = []

    async def reader() -> None:
        try:
            await endpoint.read_batch()
        except trio.EndOfChannel:
            outcome.append("EndOfChannel")

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.sleep(0.05)
            endpoint.close()
    assert outcome == ["EndOfChannel"]
    with pytest.raises(trio.EndOfChannel):
        await endpoint.read_batch()
    await endpoint.write_batch([b"after close"])
    assert endpoint.drops() == {"tun-closed": 1}
    endpoint.close()  # idempotent
    assert endpoint.device.closed


async def test_endpoint_outlives_a_cancelled_reader(
    pair: tuple[KernelTunEndpoint, socket.socket],
) -> None:
    endpoint, kernel = pair
    with trio.move_on_after(0.05):  # one stack's reader, cancelled with its nursery
        await endpoint.read_batch()
    kernel.send(b"for the next stack")
    with trio.fail_after(1):
        assert await endpoint.read_batch() == [b"for the next stack"]


async def test_end_of_file_ends_the_reader(
    pair: tuple[KernelTunEndpoint, socket.socket],
) -> None:
    endpoint, kernel = pair
    kernel.send(b"last")
    kernel.shutdown(socket.SHUT_WR)
    with trio.fail_after(1):
        assert await endpoint.read_batch() == [b"last"]
        with pytest.raises(trio.EndOfChannel):
            await endpoint.read_batch()


def test_device_close_outside_trio() -> None:
    read_end, write_end = os.pipe()
    device = TunDevice(read_end, "fake1")
    device.close()
    device.close()
    assert device.closed
    with pytest.raises(OSError):
        os.fstat(read_end)
    os.close(write_end)


# --- a real TUN in a namespace ----------------------------------------------------------------

ME = ipaddress.IPv4Address("10.8.0.6")
PEER = ipaddress.IPv4Address("10.8.0.1")
ME6 = ipaddress.IPv6Address("fd00:8::6")
PEER6 = ipaddress.IPv6Address("fd00:8::1")
INFO = TunnelInfo(
    address=ME,
    network=ipaddress.IPv4Network("10.8.0.0/24"),
    gateway=PEER,
    mtu=1500,
    routes=(),
    dns=(),
    cipher="AES-256-GCM",
    peer_id=None,
    address6=ipaddress.IPv6Interface(f"{ME6}/64"),
    topology="subnet",
)


def requests(ident: int, count: int) -> list[bytes]:
    """``count`` IPv4 and ``count`` IPv6 echo requests from the peer to our TUN addresses."""
    packets = []
    for seq in range(count):
        payload = f"ping {ident}/{seq}".encode() * 3
        packets.append(build_echo_request(PEER, ME, ident, seq, payload))
        packets.append(build_echo_request6(PEER6, ME6, ident, seq, payload))
    return packets


def replies(batches: list[list[str]]) -> tuple[set[tuple[str, str, int, int, bytes]], int]:
    """The echo replies found in the reported batches, and how many batches held any."""
    found = set()
    batches_with_replies = 0
    for batch in batches:
        parsed = [parse_echo_reply(bytes.fromhex(p)) for p in batch]
        echoes = [r for r in parsed if r is not None]
        batches_with_replies += bool(echoes)
        found |= {(str(r.src), str(r.dst), r.ident, r.seq, r.payload) for r in echoes}
    return found, batches_with_replies


def expected(ident: int, count: int) -> set[tuple[str, str, int, int, bytes]]:
    out = set()
    for seq in range(count):
        payload = f"ping {ident}/{seq}".encode() * 3
        out.add((str(ME), str(PEER), ident, seq, payload))
        out.add((str(ME6), str(PEER6), ident, seq, payload))
    return out


@pytest.mark.e2e
def test_kernel_answers_echo_requests_written_to_the_tun_in_batches(
    namespaces: Namespaces, ns_child: StartChild
) -> None:
    rounds = [requests(1, 1), [*requests(2, 16), b"\x00" * 20]]  # 2nd: a non-IP packet too
    child = ns_child(
        "echo",
        {
            "info": info_to_json(INFO),
            "rounds": [[p.hex() for p in r] for r in rounds],
            "expect": [2, 32],
        },
    )
    first = child.event()
    found, _ = replies(first["batches"])
    assert found == expected(1, 1)
    assert first["drops"] == {}

    second = child.event()
    found, with_replies = replies(second["batches"])
    assert found == expected(2, 16)
    assert with_replies <= 2  # 32 replies drained as one batch (or two), not 32 reads
    assert second["drops"] == {"refused-by-kernel": 1}

    assert child.event() == {"event": "closed", "read_after_close": "EndOfChannel"}


@pytest.mark.e2e
def test_one_tun_serves_several_stack_lifetimes(
    namespaces: Namespaces, ns_child: StartChild
) -> None:
    rounds = [requests(10 + i, 4) for i in range(3)]
    child = ns_child(
        "lifetimes",
        {
            "info": info_to_json(INFO),
            "rounds": [[p.hex() for p in r] for r in rounds],
            "expect": [8, 8, 8],
        },
    )
    for i in range(3):
        event = child.event()
        found, _ = replies(event["batches"])
        assert found == expected(10 + i, 4), event["stats"]


@pytest.mark.e2e
def test_deleting_the_interface_ends_the_reader_and_drops_writes(
    namespaces: Namespaces, ns_child: StartChild
) -> None:
    child = ns_child("until-deleted", {"packet": build_echo_request(PEER, ME, 1, 1).hex()})
    tun = child.event()["ifname"]
    ip("link", "del", tun, netns=namespaces.client)
    assert child.event() == {
        "event": "ended",
        "outcome": "EndOfChannel",
        "drops": {"tun-gone": 1},
    }
