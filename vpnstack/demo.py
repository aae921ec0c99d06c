"""The README demo: a stock OpenVPN server in a namespace, a vpnstack tunnel, a ping through it.

``python -m vpnstack.demo`` (as root; ``scripts/demo`` sets everything up first):

1. starts OpenVPN 2.6 in its own network namespace with a freshly generated PKI
   (``vpnstack.lab``), tls-crypt and the server's default data ciphers;
2. opens a userspace tunnel to it with ``vpnstack.open_tunnel``, printing each handshake stage
   as the layers report it;
3. sends ICMP echo requests through ``tunnel.send`` to the server's tunnel address and waits
   for the replies on ``tunnel.receive``;
4. prints what the server pushed and every layer's counters, then closes the tunnel and tears
   the namespace down.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import trio

from vpnstack.config import load_config
from vpnstack.icmp import build_echo_request, parse_echo_reply
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.messages import StateChange
from vpnstack.tunnel import Tunnel, open_tunnel


def say(text: str) -> None:
    """Print one line of demo output at once."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def ping(tunnel: Tunnel, count: int) -> int:
    """Ping the tunnel's gateway ``count`` times; return how many replies came back."""
    assert tunnel.info.address is not None and tunnel.info.gateway is not None
    replies = 0
    for seq in range(1, count + 1):
        request = build_echo_request(
            tunnel.info.address, tunnel.info.gateway, ident=0x5653, seq=seq,
            payload=b"vpnstack demo ping",
        )
        sent_at = trio.current_time()
        await tunnel.send(request)
        with trio.move_on_after(2):
            while True:
                reply = parse_echo_reply(await tunnel.receive())
                if reply is not None and reply.seq == seq:
                    rtt = (trio.current_time() - sent_at) * 1000
                    say(f"  reply from {reply.src}: icmp_seq={seq} time={rtt:.2f} ms")
                    replies += 1
                    break
        await trio.sleep(0.2)
    return replies


async def run_demo(lab: OpenVPNLab, config_path: str, count: int) -> int:
    """Open the tunnel, ping, report; return the number of ping replies."""
    config = load_config(config_path)
    start = trio.current_time()

    def on_state(change: StateChange) -> None:
        elapsed = trio.current_time() - start
        detail = f": {change.detail}" if change.detail else ""
        say(f"  [{elapsed:6.3f}s] {change.layer:<17} {change.stage.value}{detail}")

    say(f"Connecting to {lab.server_address}:{lab.port} (udp) ...")
    async with open_tunnel(config, on_state=on_state) as tunnel:
        info = tunnel.info
        say(
            f"Tunnel up: address {info.address} network {info.network} gateway {info.gateway}"
            f", cipher {info.cipher}, peer-id {info.peer_id}, keys by {info.key_derivation}"
        )
        say(f"  pushed routes: {', '.join(str(r.network) for r in info.routes) or 'none'}")
        say(f"  pushed DNS: {', '.join(str(d) for d in info.dns) or 'none'}")
        say(f"PING {info.gateway} through the userspace tunnel:")
        replies = await ping(tunnel, count)
        say(f"{count} sent, {replies} received")
        say("Layer counters:")
        for name, stats in tunnel.statistics().items():
            say(f"  {name}: {stats}")
    say("Tunnel closed.")
    return replies


def main() -> None:
    """Entry point of ``python -m vpnstack.demo``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3, help="echo requests to send")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the demo needs root: it creates a network namespace for the OpenVPN server")
    say("Starting a stock OpenVPN server in its own network namespace ...")
    with OpenVPNLab(ServerOptions()) as lab, tempfile.TemporaryDirectory() as tmp:
        say(f"  server: namespace {lab.namespace}, {lab.server_address}:{lab.port}/udp, "
            f"tunnel {lab.tunnel_network}, pid {lab.pid}")
        config_path = lab.write_client_config(os.path.join(tmp, "client.ovpn"))
        replies = trio.run(run_demo, lab, config_path, args.count)
    say("Server stopped and namespace removed.")
    sys.exit(0 if replies == args.count else 1)


if __name__ == "__main__":
    main()
