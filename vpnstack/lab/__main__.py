"""``python -m vpnstack.lab CLIENT.ovpn``: run a lab server until Ctrl-C (needs root).

Writes a matching client config to CLIENT.ovpn, prints where the server listens, and stops
the server, namespace and temp files on exit. Used by the README demo.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from vpnstack.lab.server import LabError, OpenVPNLab, ServerOptions


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vpnstack.lab", description=__doc__)
    parser.add_argument("client_config", help="where to write the client .ovpn")
    parser.add_argument(
        "--wrapping", choices=["tls-crypt", "tls-auth", "none"], default="tls-crypt"
    )
    parser.add_argument("--data-ciphers", default="AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305")
    parser.add_argument("--key-type", choices=["ec", "rsa"], default="ec")
    parser.add_argument("--tls-version-max", choices=["1.2", "1.3"], default=None)
    args = parser.parse_args(argv)
    options = ServerOptions(
        wrapping=args.wrapping,
        data_ciphers=tuple(args.data_ciphers.split(":")),
        key_type=args.key_type,
        tls_version_max=args.tls_version_max,
    )
    # SIGINT/SIGTERM become KeyboardInterrupt so that the lab is always cleaned up (SIGINT
    # may be ignored when started in the background by a shell)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with OpenVPNLab(options) as lab:
            lab.write_client_config(args.client_config)
            print(
                f"OpenVPN server (pid {lab.pid}) in namespace {lab.namespace} listening on"
                f" {lab.server_address}:{lab.port}/udp; tunnel server {lab.tunnel_server_address}"
            )
            print(f"client config written to {args.client_config}; Ctrl-C to stop")
            sys.stdout.flush()
            while lab.is_running():
                time.sleep(0.5)
            print("the server exited:\n" + lab.log_text()[-2000:], file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0
    except LabError as exc:
        print(f"lab error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
