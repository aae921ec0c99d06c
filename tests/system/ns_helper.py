"""Runs inside a test namespace (``ip netns exec NS python -m tests.system.ns_helper MODE JSON``).

It only does what the test asks and reports raw results as JSON lines on stdout; every check
is made by the test, from outside (``ip -n NS -j ...``) or on the raw packets it reports.

Modes:

* ``configure``: open a TUN, ``configure_interface`` + ``add_routes`` from the given
  ``TunnelInfo``, report ``ready``; then obey stdin commands ``undo``, ``close`` (close the
  TUN fd), ``exit``.
* ``hold``: open a TUN, report ``ready``, then wait (to be killed: a crash removes the TUN).
* ``until-deleted``: open a TUN and read until the endpoint reports its end (the test deletes
  the interface), then try to write one packet and report the drops.
* ``echo``: open and address a TUN, then for each round write the given packets with one
  ``write_batch`` and read batches until ``expect`` echo replies were seen (or a bound).
* ``lifetimes``: like ``echo``, but each round runs a fresh ``Tun`` layer around the same
  ``KernelTunEndpoint`` in its own nursery, cancelled at the end of the round.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from typing import Any

import trio

from tests.system.nstools import info_from_json
from vpnstack.icmp import parse_echo_reply
from vpnstack.layers.tun import Tun
from vpnstack.messages import Batch
from vpnstack.system.netconfig import NetworkConfigurator
from vpnstack.system.tundev import KernelTunEndpoint, open_tun

READ_BOUND = 3.0


def emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


def configure(args: dict[str, Any]) -> None:
    info = info_from_json(args["info"])
    remote = ipaddress.ip_address(args["remote"]) if args.get("remote") else None
    device = open_tun(args.get("dev", "tun%d"))
    with NetworkConfigurator() as netconf:
        netconf.configure_interface(device.name, info, mtu=args.get("mtu"))
        plan = netconf.add_routes(
            device.name, info, remote=remote, route_nopull=args.get("route_nopull", False)
        )
        emit(
            event="ready",
            ifname=device.name,
            plan=[str(s) for s in plan],
            pending=netconf.pending_undo,
        )
        for line in sys.stdin:
            command = line.strip()
            if command == "undo":
                netconf.undo()
                emit(event="undone", pending=netconf.pending_undo)
            elif command == "close":
                device.close()
                emit(event="closed")
            elif command == "exit":
                break
    device.close()


def hold(args: dict[str, Any]) -> None:
    device = open_tun(args.get("dev", "tun%d"))
    emit(event="ready", ifname=device.name)
    for _ in sys.stdin:
        pass


async def until_deleted(args: dict[str, Any]) -> None:
    endpoint = KernelTunEndpoint(open_tun())
    emit(event="ready", ifname=endpoint.name)
    packets = 0
    with trio.fail_after(5):
        try:
            while True:
                packets += len(await endpoint.read_batch())
        except trio.EndOfChannel:
            outcome = "EndOfChannel"
    await endpoint.write_batch([bytes.fromhex(args["packet"])])
    emit(event="ended", outcome=outcome, drops=endpoint.drops())
    endpoint.close()


def _count_replies(batch: Batch) -> int:
    return sum(1 for packet in batch if parse_echo_reply(packet) is not None)


async def echo(args: dict[str, Any]) -> None:
    info = info_from_json(args["info"])
    endpoint = KernelTunEndpoint(open_tun())
    with NetworkConfigurator() as netconf:
        netconf.configure_interface(endpoint.name, info)
        await trio.sleep(0.2)  # let the link's own chatter (IPv6 RS/MLD) come out first
        await _drain_noise(endpoint)
        for packets, expect in zip(args["rounds"], args["expect"], strict=True):
            await endpoint.write_batch([bytes.fromhex(p) for p in packets])
            await trio.sleep(0.05)  # the replies queue up in the kernel meanwhile
            batches: list[Batch] = []
            with trio.move_on_after(READ_BOUND):
                while sum(_count_replies(b) for b in batches) < expect:
                    batches.append(await endpoint.read_batch())
            emit(
                event="round",
                batches=[[p.hex() for p in b] for b in batches],
                drops=endpoint.drops(),
            )
    endpoint.close()
    emit(event="closed", read_after_close=await _read_after_close(endpoint))


async def _drain_noise(endpoint: KernelTunEndpoint) -> None:
    with trio.move_on_after(0.05):
        while True:
            await endpoint.read_batch()


async def _read_after_close(endpoint: KernelTunEndpoint) -> str:
    try:
        with trio.fail_after(1):
            await endpoint.read_batch()
    except trio.EndOfChannel:
        return "EndOfChannel"
    return "a batch"


async def lifetimes(args: dict[str, Any]) -> None:
    info = info_from_json(args["info"])
    endpoint = KernelTunEndpoint(open_tun())
    with NetworkConfigurator() as netconf:
        netconf.configure_interface(endpoint.name, info)
        await trio.sleep(0.2)
        await _drain_noise(endpoint)
        for packets, expect in zip(args["rounds"], args["expect"], strict=True):
            data_send, from_below = trio.open_memory_channel[Batch](10)
            to_below, data_recv = trio.open_memory_channel[Batch](10)
            tun = Tun(endpoint=endpoint, from_below=from_below, to_below=to_below)
            batches: list[Batch] = []
            async with trio.open_nursery() as nursery:
                await nursery.start(tun.run)
                await data_send.send([bytes.fromhex(p) for p in packets])
                with trio.move_on_after(READ_BOUND):
                    while sum(_count_replies(b) for b in batches) < expect:
                        batches.append(await data_recv.receive())
                nursery.cancel_scope.cancel()  # this stack's lifetime ends; the TUN stays
            emit(
                event="round",
                batches=[[p.hex() for p in b] for b in batches],
                stats=str(tun.statistics()),
            )
    endpoint.close()


def main() -> None:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    if mode == "configure":
        configure(args)
    elif mode == "hold":
        hold(args)
    elif mode == "echo":
        trio.run(echo, args)
    elif mode == "until-deleted":
        trio.run(until_deleted, args)
    elif mode == "lifetimes":
        trio.run(lifetimes, args)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
