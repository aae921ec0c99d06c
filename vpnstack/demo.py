"""The README demo: a stock OpenVPN server in a namespace and vpnstack talking to it.

``python -m vpnstack.demo`` (as root; ``scripts/demo`` sets everything up first):

1. starts OpenVPN 2.6 in its own network namespace with a freshly generated PKI
   (``vpnstack.lab``), tls-crypt and the server's default data ciphers;
2. runs ``vpnstack-client --config client.ovpn`` in a second namespace, where it opens a
   kernel TUN and applies the pushed address, routes and DNS (the namespace has a private
   resolv.conf, so the machine's own resolver is never touched);
3. pings the server's tunnel address with the system ``ping`` through that TUN, shows the
   namespace's routes and resolv.conf, sends SIGTERM and shows that everything was put back;
4. tears both namespaces down.

``--userspace`` instead opens the tunnel in this process with ``vpnstack.open_tunnel``,
printing each stage as the layers report it, pings through ``tunnel.send``/``tunnel.receive``
and prints every layer's counters.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from vpnstack.config import load_config
from vpnstack.icmp import build_echo_request, parse_echo_reply
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.messages import StateChange
from vpnstack.tunnel import Tunnel, open_tunnel

CLIENT = str(Path(sys.executable).with_name("vpnstack-client"))


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


def in_namespace(namespace: str, *command: str) -> str:
    """Run a command in ``namespace``; return its output (bounded in time)."""
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, *command],
        capture_output=True, text=True, timeout=30, check=False,
    )
    return result.stdout + result.stderr


def client_demo(lab: OpenVPNLab, tmp: str, count: int) -> bool:
    """vpnstack-client on a kernel TUN in a second namespace; True if every ping came back."""
    peer = lab.add_peer_namespace()
    resolv_dir = Path("/etc/netns") / peer.namespace
    resolv_dir.mkdir(parents=True, exist_ok=True)
    (resolv_dir / "resolv.conf").write_text("nameserver 192.0.2.53\n")
    config_path = lab.write_client_config(
        os.path.join(tmp, "client.ovpn"), remote_host=str(peer.server_ipv4)
    )
    client_log = os.path.join(tmp, "client.log")
    command = [CLIENT, "--config", config_path, "--verb", "3"]
    say(f"Client namespace {peer.namespace}: {' '.join(['vpnstack-client', *command[1:]])}")
    with open(client_log, "wb") as log:
        client = subprocess.Popen(
            ["ip", "netns", "exec", peer.namespace, *command],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while "Tunnel up" not in Path(client_log).read_text() and time.monotonic() < deadline:
            if client.poll() is not None:
                break
            time.sleep(0.1)
        show("vpnstack-client says", Path(client_log).read_text())
        ping = in_namespace(
            peer.namespace, "ping", "-c", str(count), "-i", "0.3", "-W", "2",
            str(lab.tunnel_server_address),
        )
        show(f"ping {lab.tunnel_server_address} through the kernel TUN", ping)
        show("routes in the client namespace", in_namespace(peer.namespace, "ip", "route"))
        show("resolv.conf in the client namespace", (resolv_dir / "resolv.conf").read_text())
        say("Sending SIGTERM to vpnstack-client ...")
        started = time.monotonic()
        client.send_signal(signal.SIGTERM)
        status = client.wait(timeout=10)
        say(f"  exited with status {status} after {time.monotonic() - started:.2f} s")
        show("routes afterwards", in_namespace(peer.namespace, "ip", "route"))
        show("resolv.conf afterwards", (resolv_dir / "resolv.conf").read_text())
        return status == 0 and f"{count} received" in ping
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(timeout=10)
        shutil.rmtree(resolv_dir, ignore_errors=True)


def show(title: str, text: str) -> None:
    """Print a titled, indented block."""
    say(f"--- {title}")
    for line in text.rstrip().splitlines():
        say(f"    {line}")


def main() -> None:
    """Entry point of ``python -m vpnstack.demo``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3, help="echo requests to send")
    parser.add_argument(
        "--userspace", action="store_true", help="use the Python API instead of the client"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the demo needs root: it creates network namespaces and a TUN device")
    say("Starting a stock OpenVPN server in its own network namespace ...")
    with OpenVPNLab(ServerOptions()) as lab, tempfile.TemporaryDirectory() as tmp:
        say(f"  server: namespace {lab.namespace}, {lab.server_address}:{lab.port}/udp, "
            f"tunnel {lab.tunnel_network}, pid {lab.pid}")
        if args.userspace:
            config_path = lab.write_client_config(os.path.join(tmp, "client.ovpn"))
            ok = trio.run(run_demo, lab, config_path, args.count) == args.count
        else:
            ok = client_demo(lab, tmp, args.count)
    say("Server stopped and namespaces removed.")
    say("Demo " + ("succeeded." if ok else "FAILED."))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
