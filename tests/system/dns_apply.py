"""Run ``DnsConfigurator`` on the real /etc/resolv.conf of whatever namespace this runs in.

Used by ``test_dns.py`` through ``ip netns exec NS python dns_apply.py ...``, where iproute2
bind-mounts ``/etc/netns/NS/resolv.conf`` over ``/etc/resolv.conf``: the file touched is the
namespace's private one. Never run it outside such a namespace. Prints one JSON object.

Actions:
  apply-restore  apply, read /etc/resolv.conf, restore, read it again
  apply          apply and exit without restoring (what a killed client leaves behind)
  restore-stale  restore_stale_backup()
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys

from vpnstack.system.dns import (
    DnsConfigurator,
    DnsSettings,
    is_mount_point,
    restore_stale_backup,
)

RESOLV_CONF = "/etc/resolv.conf"


def _read() -> str:
    with open(RESOLV_CONF, encoding="utf-8") as f:
        return f.read()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["apply-restore", "apply", "restore-stale"])
    parser.add_argument("--server", action="append", default=[])
    parser.add_argument("--search", action="append", default=[])
    parser.add_argument("--ifname", default="tun0")
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--resolvectl", default="resolvectl")
    parser.add_argument("--resolved-dir", default="/run/systemd/resolve")
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()

    result: dict[str, object] = {"mount_point": is_mount_point(RESOLV_CONF), "before": _read()}
    if args.action == "restore-stale":
        result["restored"] = restore_stale_backup(RESOLV_CONF, state_dir=args.state_dir)
        result["after"] = _read()
    else:
        configurator = DnsConfigurator(
            args.mode,
            resolv_conf=RESOLV_CONF,
            resolvectl=args.resolvectl,
            resolved_runtime_dir=args.resolved_dir,
            state_dir=args.state_dir,
        )
        settings = DnsSettings(
            servers=tuple(ipaddress.ip_address(s) for s in args.server),
            search_domains=tuple(args.search),
        )
        result["description"] = configurator.apply(args.ifname, settings)
        result["backend"] = configurator.detected_backend
        result["during"] = _read()
        result["backups"] = sorted(os.listdir(args.state_dir))
        if args.action == "apply-restore":
            configurator.restore()
            result["after"] = _read()
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
