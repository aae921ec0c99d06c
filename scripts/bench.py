"""scripts/bench: vpnstack-client against the stock openvpn client, through the lab server.

How this works (full run, needs root):

1. a lab server (``vpnstack.lab``, stock OpenVPN 2.6, ``duplicate-cn`` so several clients with
   the lab's one client certificate can be connected at once) and an ``iperf3 -s`` on its
   tunnel address, both in the lab's namespace;
2. each client in its own peer namespace (as tests/e2e/clientproc.py runs vpnstack-client, with
   a private /etc/netns/<ns>/resolv.conf so DNS changes stay in the namespace): vpnstack-client
   once per ``--tree`` (default: this checkout), and the stock ``openvpn`` with the lab's
   client config (plus ``disable-dco``, like the server: both on the user-space data path);
3. connect time = client process start to the first ICMP echo reply from the server's tunnel
   address (a raw-socket pinger in the namespace, every 2 ms), ``--connects`` times;
4. then ``--runs`` rounds; in each round every client does one iperf3 upload and one download
   of ``--seconds`` s, interleaved, so the clients share the machine's noise alike;
5. while iperf3 runs: the client's peak RSS (/proc/PID/status) and its CPU time
   (/proc/PID/stat), divided by the bytes iperf3 moved (CPU s per GB);
6. vpnstack-client's layer statistics (``VPNSTACK_BENCH_STATS``, written with the status file
   every second): drops per layer and reason, average batch size per hop.

Everything it starts is stopped by pid at the end; traffic stays inside the lab namespaces.
``--micro``: the data-path cores per packet, in-process, a bounded time per case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PAYLOAD = 1400
"""Bytes per IP packet in the micro-benchmarks (a full-size TCP segment in a 1500 MTU)."""
BATCH = 9
"""Packets per batch in the micro-benchmarks (the average batch seen on the data path)."""

# --- micro-benchmarks -------------------------------------------------------------------------


def _timeit(fn: Callable[[], int], budget: float) -> float:
    """Microseconds of CPU per item: ``fn`` does some items and returns how many.

    CPU time of this process (not wall time: the machine is shared, and time spent
    descheduled is not ours), best round of ``budget`` seconds.
    """
    per_item: list[float] = []
    deadline = time.monotonic() + budget
    while True:
        start = time.process_time()
        items = fn()
        per_item.append((time.process_time() - start) / items * 1e6)
        if time.monotonic() >= deadline and len(per_item) >= 3:
            return min(per_item)


def micro(budget: float) -> None:
    """Print per-packet costs of the data-path cores."""
    from vpnstack.core.datachannel.channel import DataChannelCore, InstalledKey
    from vpnstack.core.datachannel.compression import frame_batch, unframe
    from vpnstack.core.datachannel.crypto import make_data_crypto
    from vpnstack.core.datachannel.keyring import KeyRing
    from vpnstack.core.shared.framing import Framing
    from vpnstack.core.shared.replay import ReplayWindow
    from vpnstack.messages import DataKeys

    payloads = [os.urandom(PAYLOAD) for _ in range(BATCH)]
    print(
        f"micro-benchmarks: CPU us per packet (best round), {PAYLOAD}-byte payloads,"
        f" batches of {BATCH}"
    )
    print(f"{'case':50} {'us/pkt':>8}")
    cases = [
        ("AES-256-GCM", None, False),
        ("CHACHA20-POLY1305", None, False),
        ("AES-256-CBC", "SHA256", False),
        ("AES-256-GCM", None, True),
    ]
    for cipher, auth, epoch in cases:
        keys = DataKeys(
            key_id=1,
            cipher=cipher,
            encrypt_key=bytes(range(32)),
            decrypt_key=bytes(range(32, 64)),
            encrypt_implicit_iv=bytes(range(8)),
            decrypt_implicit_iv=bytes(range(8, 16)),
            peer_id=7,
            auth=auth,
            encrypt_hmac_key=bytes(range(64, 96)) if auth else b"",
            decrypt_hmac_key=bytes(range(96, 128)) if auth else b"",
            epoch=epoch,
        )
        name = cipher + (f"+{auth}" if auth else "") + (" epoch" if epoch else "")
        sender = make_data_crypto(keys, role="server")

        def encrypt(sender: object = sender) -> int:
            for _ in range(50):
                sender.encrypt_batch(payloads)  # type: ignore[attr-defined]
            return 50 * BATCH

        print(f"{name + ' encrypt_batch':50} {_timeit(encrypt, budget):8.2f}")
        # decrypt: packets made by the server's view, opened by a fresh client view per round
        wire = [p for _ in range(60) for p in sender.encrypt_batch(payloads)]

        def decrypt(keys: DataKeys = keys, wire: list[bytes] = wire) -> int:
            receiver = make_data_crypto(keys)
            for packet in wire:
                receiver.decrypt(packet, 1.0)
            return len(wire)

        print(f"{name + ' decrypt':50} {_timeit(decrypt, budget):8.2f}")

        def core_open(keys: DataKeys = keys, wire: list[bytes] = wire) -> int:
            core = DataChannelCore(
                KeyRing[InstalledKey](tran_window=60, hand_window=60, reneg_sec=None)
            )
            core.install_keys(keys, 0.0)
            for i in range(0, len(wire), BATCH):
                core.open(wire[i : i + BATCH], 1.0)
            return len(wire)

        print(f"{name + ' DataChannelCore.open (batches)':50} {_timeit(core_open, budget):8.2f}")

        def core_seal(keys: DataKeys = keys) -> int:
            core = DataChannelCore(
                KeyRing[InstalledKey](tran_window=60, hand_window=60, reneg_sec=None)
            )
            core.install_keys(keys, 0.0)
            for _ in range(50):
                core.seal(payloads, 1.0)
            return 50 * BATCH

        print(f"{name + ' DataChannelCore.seal (batches)':50} {_timeit(core_seal, budget):8.2f}")

    def replay_in_order() -> int:
        window = ReplayWindow()
        for packet_id in range(1, 5001):
            window.check(packet_id, 1.0)
        return 5000

    def replay_reordered() -> int:
        window = ReplayWindow()
        for base in range(1, 5001, 8):  # each group of 8 arrives backwards
            for packet_id in range(base + 7, base - 1, -1):
                window.check(packet_id, 1.0)
        return 5000

    print(f"{'replay window, in order':50} {_timeit(replay_in_order, budget):8.2f}")
    print(f"{'replay window, groups of 8 reversed':50} {_timeit(replay_reordered, budget):8.2f}")
    for mode in (Framing.STUB_V2, Framing.COMP_LZO):

        def framing(mode: Framing = mode) -> int:
            for _ in range(100):
                for packet in frame_batch(payloads, mode):
                    unframe(packet, mode)
            return 100 * BATCH

        print(f"{'framing ' + mode.value + ' frame+unframe':50} {_timeit(framing, budget):8.2f}")


def micro_compare(args: argparse.Namespace) -> int:
    """--micro for each --tree, interleaved ``--repeat`` times; the best of each case."""
    trees = [Path(t).resolve() for t in args.tree]
    figures: dict[Path, dict[str, list[float]]] = {tree: {} for tree in trees}
    order: list[str] = []
    for _ in range(args.repeat):
        for tree in trees:
            env = dict(os.environ, PYTHONPATH=str(tree))
            out = subprocess.run(
                [sys.executable, __file__, "--micro", "--budget", str(args.budget)],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            ).stdout
            for line in out.splitlines()[2:]:
                case, _, value = line.rpartition(" ")
                case = case.strip()
                if case not in order:
                    order.append(case)
                figures[tree].setdefault(case, []).append(float(value))
    print(
        f"micro-benchmarks: us per packet, {PAYLOAD}-byte payloads, batches of {BATCH}, "
        f"best of {args.repeat} interleaved runs"
    )
    names = [t.name for t in trees]
    print(
        f"{'case':50} "
        + " ".join(f"{n:>12}" for n in names)
        + ("   after/before" if len(trees) == 2 else "")
    )
    for case in order:
        values = [min(figures[t].get(case, [float("nan")])) for t in trees]
        ratio = f"   {values[1] / values[0]:.2f}" if len(values) == 2 and values[0] else ""
        print(f"{case:50} " + " ".join(f"{v:12.2f}" for v in values) + ratio)
    return 0


# --- the full run -------------------------------------------------------------------------------

PINGER = r"""
import os, select, socket, struct, sys, time
address, limit = sys.argv[1], float(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xFFFF
def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
print("ready", flush=True)
deadline, seq = time.monotonic() + limit, 0
while time.monotonic() < deadline:
    seq = (seq + 1) & 0xFFFF
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"benchpkt"
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    try:
        sock.sendto(body, (address, 0))
    except OSError:
        time.sleep(0.002)
        continue
    end = time.monotonic() + 0.002
    while (left := end - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data, source = sock.recvfrom(2048)
        icmp = data[(data[0] & 15) * 4:]
        if source[0] == address and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
            print(repr(time.monotonic()), flush=True)
            sys.exit(0)
sys.exit(1)
"""


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    """One client process in its own peer namespace of the lab."""

    def __init__(self, name: str, lab: object, workdir: Path, kind: str, tree: Path | None):
        self.name = name
        self.kind = kind
        self.tree = tree
        self.lab = lab
        self.peer = lab.add_peer_namespace()  # type: ignore[attr-defined]
        self.namespace = self.peer.namespace
        self.workdir = workdir
        self.etc_dir = Path("/etc/netns") / self.namespace
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        (self.etc_dir / "resolv.conf").write_text("nameserver 192.0.2.53\n")
        self.stats_path = workdir / f"{self.namespace}.stats.json"
        self.log_path = workdir / f"{self.namespace}.log"
        extra = [f"status {workdir / (self.namespace + '.status')} 1"]
        if kind == "openvpn":
            extra = ["disable-dco", "verb 1"]
        self.config = workdir / f"{self.namespace}.ovpn"
        lab.write_client_config(  # type: ignore[attr-defined]
            str(self.config), remote_host=str(self.peer.server_ipv4), extra_lines=extra
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.connect_times: list[float] = []
        self.results: dict[str, list[float]] = {"up": [], "down": []}
        self.cpu_per_gb: dict[str, list[float]] = {"up": [], "down": []}
        self.rss_kib = 0

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        if self.kind == "openvpn":
            return ["openvpn", "--config", str(self.config)], env
        assert self.tree is not None
        env["PYTHONPATH"] = str(self.tree)
        env["VPNSTACK_BENCH_STATS"] = str(self.stats_path)
        client = str(Path(sys.executable).with_name("vpnstack-client"))
        return [client, "--config", str(self.config)], env

    def connect(self, address: str, timeout: float = 30.0) -> float:
        """Start the client; seconds from its start to the first ping reply through it."""
        ns = ["ip", "netns", "exec", self.namespace]
        pinger = subprocess.Popen(
            [*ns, sys.executable, "-c", PINGER, address, str(timeout)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert pinger.stdout is not None
            if pinger.stdout.readline().strip() != "ready":
                raise RuntimeError("the pinger did not start")
            argv, env = self.command()
            with open(self.log_path, "ab") as log:
                started = time.monotonic()
                self.process = subprocess.Popen(
                    [*ns, *argv],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            line = pinger.stdout.readline().strip()
            pinger.wait(timeout=5)
        finally:
            if pinger.poll() is None:
                pinger.kill()
                pinger.wait()
        if not line:
            raise RuntimeError(
                f"{self.name}: no ping reply in {timeout} s; log:\n"
                + self.log_path.read_text(errors="replace")[-3000:]
            )
        return float(line) - started

    def disconnect(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def iperf(self, server: str, port: int, seconds: float, direction: str) -> None:
        assert self.process is not None
        pid = self.process.pid
        argv = [
            "ip",
            "netns",
            "exec",
            self.namespace,
            "iperf3",
            "-c",
            server,
            "-p",
            str(port),
            "-t",
            str(seconds),
            "-J",
        ]
        if direction == "down":
            argv.append("-R")
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], _rss_kib(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        cpu_before = _cpu_seconds(pid)
        sampler.start()
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 20)
        finally:
            done.set()
            sampler.join()
        cpu = _cpu_seconds(pid) - cpu_before
        self.rss_kib = max(self.rss_kib, peak[0])
        try:
            received = json.loads(result.stdout)["end"]["sum_received"]
        except (ValueError, KeyError):
            print(
                f"  {self.name} {direction}: iperf3 failed: {result.stdout[-500:]}"
                f"{result.stderr[-500:]}",
                file=sys.stderr,
            )
            self.results[direction].append(0.0)
            return
        self.results[direction].append(received["bits_per_second"] / 1e6)
        self.cpu_per_gb[direction].append(cpu / (received["bytes"] / 1e9))

    def layer_stats(self) -> dict[str, dict[str, object]] | None:
        try:
            return json.loads(self.stats_path.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        self.disconnect()
        shutil.rmtree(self.etc_dir, ignore_errors=True)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt_runs(values: list[float]) -> str:
    return " ".join(f"{v:.0f}" for v in values)


def _print_layer_stats(client: Client) -> None:
    stats = client.layer_stats()
    if stats is None:
        print(f"  {client.name}: no layer statistics (this tree has no VPNSTACK_BENCH_STATS)")
        return
    print(f"  {client.name}: layer statistics over the whole run")

    def ratio(layer: str, packets: str, batches: str) -> str:
        record = stats.get(layer, {})
        p, b = record.get(packets), record.get(batches)
        if not isinstance(p, int) or not isinstance(b, int) or not b:
            return "n/a"
        return f"{p / b:.1f} ({p} / {b})"

    hops = [
        ("udp -> networkio (datagrams per batch in)", "networkio", "datagrams_in", "batches_in"),
        ("datachannel open (packets per batch)", "datachannel", "packets_in", "batches_opened"),
        ("datachannel seal (packets per batch)", "datachannel", "packets_sealed", "batches_sealed"),
        ("tun write (packets per batch up)", "tun", "packets_up", "batches_up"),
        ("tun read (packets per batch down)", "tun", "packets_down", "batches_down"),
    ]
    for label, layer, packets, batches in hops:
        print(f"    {label:46} {ratio(layer, packets, batches)}")
    for layer, record in stats.items():
        drops = record.get("drops") if isinstance(record, dict) else None
        if drops:
            print(f"    drops in {layer}: {drops}")
    if not any(isinstance(r, dict) and r.get("drops") for r in stats.values()):
        print("    drops: none in any layer")


def full(args: argparse.Namespace) -> int:
    from vpnstack.lab.server import OpenVPNLab, ServerOptions

    missing = [b for b in ("ip", "iperf3") if shutil.which(b) is None]
    if os.geteuid() != 0:
        print("bench: needs root (network namespaces, tun devices)", file=sys.stderr)
        return 2
    if missing:
        print(
            f"bench: needs {' '.join(missing)}: apt-get install -y iperf3 iproute2", file=sys.stderr
        )
        return 2
    if shutil.which("openvpn") is None:
        print("bench: needs the openvpn server: apt-get install -y openvpn", file=sys.stderr)
        return 2
    trees = [Path(t).resolve() for t in (args.tree or [str(HERE)])]
    workdir = Path(tempfile.mkdtemp(prefix="vpnstack-bench-"))
    options = ServerOptions(
        data_ciphers=(args.cipher,),
        auth="SHA256",
        verb=1,
        extra_lines=("duplicate-cn",),
    )
    lab = OpenVPNLab(options)
    clients: list[Client] = []
    iperf_server: subprocess.Popen[bytes] | None = None
    try:
        lab.start()
        server = str(lab.tunnel_server_address)
        iperf_server = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                lab.namespace,
                "iperf3",
                "-s",
                "-B",
                server,
                "-p",
                str(args.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for tree in trees:
            label = "vpnstack" if len(trees) == 1 else f"vpnstack:{tree.name}"
            clients.append(Client(label, lab, workdir, "vpnstack", tree))
        if shutil.which("openvpn") and not args.no_openvpn:
            clients.append(Client("openvpn", lab, workdir, "openvpn", None))
        print(
            f"bench: {args.cipher}, {args.runs} x {args.seconds} s each way, "
            f"{len(clients)} clients: {', '.join(c.name for c in clients)}",
            flush=True,
        )
        for attempt in range(args.connects):
            for client in clients:
                client.connect_times.append(client.connect(server))
                if attempt < args.connects - 1:
                    client.disconnect()
        time.sleep(1.0)
        for round_ in range(args.runs):
            for direction in ("up", "down"):
                for client in clients:
                    client.iperf(server, args.port, args.seconds, direction)
            print(
                f"  round {round_ + 1}: "
                + "; ".join(
                    f"{c.name} up {c.results['up'][-1]:.0f} down {c.results['down'][-1]:.0f}"
                    for c in clients
                ),
                flush=True,
            )
        time.sleep(1.5)  # one more status write after the traffic
        reference = next((c for c in clients if c.kind == "openvpn"), None)
        print()
        print(
            f"{'client':22} {'up Mbit/s':>10} {'down Mbit/s':>11} {'up x':>5} {'down x':>6}"
            f" {'connect s':>9} {'RSS MB':>7} {'CPU s/GB up':>11} {'down':>6}  runs up | down"
        )
        for c in clients:
            up, down = _median(c.results["up"]), _median(c.results["down"])
            if reference is not None and reference is not c:
                up_x = f"{up / _median(reference.results['up']):.2f}"
                down_x = f"{down / _median(reference.results['down']):.2f}"
            else:
                up_x = down_x = "-"
            print(
                f"{c.name:22} {up:10.0f} {down:11.0f} {up_x:>5} {down_x:>6}"
                f" {_median(c.connect_times):9.3f} {c.rss_kib / 1024:7.1f}"
                f" {_median(c.cpu_per_gb['up']):11.1f} {_median(c.cpu_per_gb['down']):6.1f}"
                f"  {_fmt_runs(c.results['up'])} | {_fmt_runs(c.results['down'])}"
            )
        print(
            "connect times (s): "
            + "; ".join(
                f"{c.name} " + " ".join(f"{t:.3f}" for t in c.connect_times) for c in clients
            )
        )
        for c in clients:
            if c.kind == "vpnstack":
                _print_layer_stats(c)
        return 0
    finally:
        for client in clients:
            client.stop()
        if iperf_server is not None:
            iperf_server.terminate()
            try:
                iperf_server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                iperf_server.kill()
                iperf_server.wait()
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--micro", action="store_true", help="micro-benchmarks only")
    parser.add_argument(
        "--repeat", type=int, default=3, help="micro with --tree: rounds, trees interleaved"
    )
    parser.add_argument("--budget", type=float, default=0.4, help="seconds per micro case")
    parser.add_argument(
        "--tree",
        action="append",
        help="run vpnstack-client from this checkout (repeatable; default: this one)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connects", type=int, default=3, help="connect-time samples")
    parser.add_argument(
        "--cipher",
        default="AES-256-GCM",
        choices=["AES-256-GCM", "AES-128-GCM", "CHACHA20-POLY1305"],
    )
    parser.add_argument("--port", type=int, default=5201)
    parser.add_argument("--no-openvpn", action="store_true", help="leave out the stock client")
    args = parser.parse_args()
    if args.micro and args.tree:
        return micro_compare(args)
    if args.micro:
        micro(args.budget)
        return 0
    return full(args)


if __name__ == "__main__":
    sys.exit(main())
