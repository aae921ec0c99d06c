"""``scripts/bench-loss``: vpnstack beside the stock OpenVPN client, on the same bad paths.

How this works: one lab server (``OpenVPNLab``) for the whole run, then per mode:

* ``--loss`` (the default): for each seed, a fresh ``LossyRelay`` (drop 25 % both ways,
  5 % duplicates, 10 % reordered; seed N) in front of the server, and the time from start to
  tunnel up of (a) vpnstack, ``open_tunnel`` in this process through an in-process relay, and
  (b) the stock ``openvpn`` client in a peer namespace of the lab, through the same relay
  code and seed run as a process in that namespace (``python -m vpnstack.lab.relay``). Each
  run is bounded (``--timeout``, 90 s); a run that does not finish counts as the bound.
* ``--restart``: both clients connected straight to a server pushing ``keepalive 2 20``, each
  pinging the server's tunnel address every 0.2 s; the server is killed and started again
  after 2 s (``OpenVPNLab.restart(pause=2)``); the figure is the time from the server being
  ready again to each client's first ping reply.

Prints the figures per seed and the median and max of each. Every process is started by us,
signalled by its pid and stopped at the end; namespaces and temp files go with the lab.
Needs root and the ``openvpn``/``ip``/``ping`` binaries.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from vpnstack.config import load_config
from vpnstack.errors import VPNError
from vpnstack.lab.netns import PeerNamespace
from vpnstack.lab.relay import LossyRelay
from vpnstack.lab.server import OpenVPNLab, ServerOptions
from vpnstack.tunnel import open_tunnel

DROP, DUPLICATE, REORDER = 0.25, 0.05, 0.10
STOCK_READY = "Initialization Sequence Completed"
VPNSTACK_READY = "Tunnel up on tun0"
_REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    """This tree first on the path, for the processes we start in namespaces."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO), env.get("PYTHONPATH")) if p)
    return env


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM one process we started (by its pid), SIGKILL after a bound."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait_text(path: Path, text: str, deadline: float, proc: subprocess.Popen[bytes]) -> bool:
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


# --- loss: handshake time through the lossy relay ----------------------------------------


async def _vpnstack_handshake(lab: OpenVPNLab, seed: int, workdir: Path, bound: float) -> float:
    relay = LossyRelay(
        (str(lab.server_address), lab.port),
        drop=DROP,
        duplicate=DUPLICATE,
        reorder=REORDER,
        seed=seed,
    )
    elapsed = bound
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(relay.run)
        path = workdir / f"vpnstack-{seed}.ovpn"
        lab.write_client_config(str(path), remote_host=host, remote_port=port)
        config = load_config(str(path))
        start = trio.current_time()
        with trio.move_on_after(bound):
            try:
                async with open_tunnel(config):
                    elapsed = trio.current_time() - start
            except VPNError as exc:
                print(f"  vpnstack seed {seed}: {type(exc).__name__}: {exc}", flush=True)
        nursery.cancel_scope.cancel()
    return elapsed


def _stock_handshake(
    lab: OpenVPNLab, peer: PeerNamespace, seed: int, workdir: Path, bound: float
) -> float:
    relay_log = workdir / f"relay-{seed}.log"
    client_log = workdir / f"stock-{seed}.log"
    relay = client = None
    try:
        with open(relay_log, "wb") as out:
            relay = subprocess.Popen(
                [
                    "ip", "netns", "exec", peer.namespace, sys.executable, "-m",
                    "vpnstack.lab.relay", "--target", f"{peer.server_ipv4}:{lab.port}",
                    "--drop", str(DROP), "--duplicate", str(DUPLICATE),
                    "--reorder", str(REORDER), "--seed", str(seed),
                    "--duration", str(bound + 10),
                ],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env(),
            )  # fmt: skip
        if not _wait_text(relay_log, "listening", time.monotonic() + 10, relay):
            raise RuntimeError(f"the relay did not start: {relay_log.read_text()}")
        match = re.search(r"listening (\S+) (\d+)", relay_log.read_text())
        assert match is not None
        config = workdir / f"stock-{seed}.ovpn"
        lab.write_client_config(
            str(config), remote_host=match.group(1), remote_port=int(match.group(2))
        )
        with open(client_log, "wb") as out:
            start = time.monotonic()
            client = subprocess.Popen(
                ["ip", "netns", "exec", peer.namespace, "openvpn", "--config", str(config)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
            )  # fmt: skip
        if _wait_text(client_log, STOCK_READY, start + bound, client):
            return time.monotonic() - start
        return bound
    finally:
        _stop(client)
        _stop(relay)


def _summary(name: str, values: Sequence[float], bound: float) -> str:
    failed = sum(1 for v in values if v >= bound)
    text = f"{name:9s} median {statistics.median(values):6.2f} s   max {max(values):6.2f} s"
    return text + (f"   ({failed} hit the {bound:g} s bound)" if failed else "")


def run_loss(seeds: Sequence[int], bound: float) -> None:
    """The handshake benchmark; prints per seed and a summary."""
    print(
        f"handshake through a relay: drop {DROP:.0%} both ways, duplicate {DUPLICATE:.0%},"
        f" reorder {REORDER:.0%}; seeds {seeds[0]}..{seeds[-1]}; bound {bound:g} s",
        flush=True,
    )
    mine: list[float] = []
    stock: list[float] = []
    with OpenVPNLab(ServerOptions()) as lab, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        peer = lab.add_peer_namespace()
        for seed in seeds:
            mine.append(trio.run(_vpnstack_handshake, lab, seed, workdir, bound))
            stock.append(_stock_handshake(lab, peer, seed, workdir, bound))
            print(f"  seed {seed:3d}: vpnstack {mine[-1]:6.2f} s   stock {stock[-1]:6.2f} s",
                  flush=True)  # fmt: skip
    print(_summary("vpnstack", mine, bound))
    print(_summary("stock", stock, bound))
    print(f"vpnstack/stock: median {statistics.median(mine) / statistics.median(stock):.2f},"
          f" max {max(mine) / max(stock):.2f}", flush=True)  # fmt: skip


# --- restart: traffic back after the server restarts --------------------------------------

_PING_REPLY = re.compile(r"^\[(\d+\.\d+)\] .*icmp_seq=\d+", re.MULTILINE)


def _first_reply_after(log: Path, after: float) -> float | None:
    for match in _PING_REPLY.finditer(log.read_text(errors="replace")):
        if float(match.group(1)) >= after:
            return float(match.group(1))
    return None


def run_restart(rounds: int, bound: float, pause: float) -> None:
    """The restart benchmark; prints per round and a summary."""
    print(
        f"server killed, started again {pause:g} s later (pushed keepalive 2 20); time from"
        f" the server ready to the first ping reply; {rounds} rounds",
        flush=True,
    )
    mine: list[float] = []
    stock: list[float] = []
    procs: list[subprocess.Popen[bytes]] = []
    with OpenVPNLab(ServerOptions(keepalive=(2, 20))) as lab, tempfile.TemporaryDirectory() as d:
        workdir = Path(d)
        try:
            peers = {"vpnstack": lab.add_peer_namespace(), "stock": lab.add_peer_namespace()}
            logs = {name: workdir / f"{name}.log" for name in peers}
            for name, peer in peers.items():
                config = workdir / f"{name}.ovpn"
                lab.write_client_config(str(config), remote_host=str(peer.server_ipv4))
                if name == "vpnstack":
                    command = [sys.executable, "-c", "from vpnstack.cli import main; main()",
                               "--config", str(config)]  # fmt: skip
                else:
                    command = ["openvpn", "--config", str(config)]
                with open(logs[name], "wb") as out:
                    procs.append(subprocess.Popen(
                        ["ip", "netns", "exec", peer.namespace, *command],
                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        cwd=workdir, env=_env(),
                    ))  # fmt: skip
            for name, ready_text in (("vpnstack", VPNSTACK_READY), ("stock", STOCK_READY)):
                proc = procs[list(peers).index(name)]
                if not _wait_text(logs[name], ready_text, time.monotonic() + 30, proc):
                    raise RuntimeError(f"{name} never came up:\n{logs[name].read_text()}")
            pings = {name: workdir / f"{name}-ping.log" for name in peers}
            for name, peer in peers.items():
                with open(pings[name], "wb") as out:
                    procs.append(subprocess.Popen(
                        ["ip", "netns", "exec", peer.namespace, "ping", "-D", "-n", "-i", "0.2",
                         "-W", "1", str(lab.tunnel_server_address)],
                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    ))  # fmt: skip
            for n in range(rounds):
                time.sleep(3)  # traffic flowing before the restart
                lab.restart(pause=pause)
                ready = time.time()
                got: dict[str, float] = {}
                while len(got) < 2 and time.time() < ready + bound:
                    for name in peers:
                        if name not in got:
                            reply = _first_reply_after(pings[name], ready)
                            if reply is not None:
                                got[name] = reply - ready
                    time.sleep(0.1)
                mine.append(got.get("vpnstack", bound))
                stock.append(got.get("stock", bound))
                print(f"  round {n + 1}: vpnstack {mine[-1]:6.2f} s   stock {stock[-1]:6.2f} s",
                      flush=True)  # fmt: skip
        finally:
            for proc in reversed(procs):
                _stop(proc)
    print(_summary("vpnstack", mine, bound))
    print(_summary("stock", stock, bound))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``scripts/bench-loss``."""
    parser = argparse.ArgumentParser(prog="scripts/bench-loss", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 1..N (default 10)")
    parser.add_argument("--timeout", type=float, default=90.0, help="bound of one run, s")
    parser.add_argument("--restart", action="store_true", help="the server-restart scenario")
    parser.add_argument("--rounds", type=int, default=3, help="restarts in --restart mode")
    parser.add_argument("--pause", type=float, default=2.0, help="server down time, s")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench-loss needs root (network namespaces, tun devices)", file=sys.stderr)
        return 2
    if args.restart:
        run_restart(args.rounds, min(args.timeout, 40.0), args.pause)
    else:
        run_loss(list(range(1, args.seeds + 1)), args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
