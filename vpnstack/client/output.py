"""What vpnstack-client prints: one line per stage, more per layer at higher ``--verb``.

How this works: the lifecycle hands every ``StateChange`` to ``Reporter.stage``. At the
default verbosity (1-3) only the stages a person follows are shown — resolving, connecting,
the TLS handshake with the server's subject, authentication, the pushed options, and the
tunnel coming up with its address, cipher and the time it took — and then nothing per packet.
From ``--verb 4`` every notification of every layer is shown with the layer's name, and from
``--verb 5`` the layer counters are printed when the tunnel comes up.

Nothing secret can reach these lines: notifications carry no key material (``DataKeys`` and
``AuthToken`` have opaque ``repr``s and travel outside ``detail``), and credentials are never
passed to the reporter at all.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TextIO

from vpnstack.core.tlssession.hints import QUIET_PREFIX, WARNING_PREFIX
from vpnstack.messages import Stage, StateChange, TunnelInfo

DEFAULT_VERB = 1


class Reporter:
    """Prints timestamped progress lines to a stream (stdout by default)."""

    def __init__(self, *, verb: int = DEFAULT_VERB, stream: TextIO | None = None) -> None:
        self.verb = verb
        self._stream = stream if stream is not None else sys.stdout
        self._attempt_started: float | None = None

    def line(self, text: str, *, level: int = 1) -> None:
        """Print ``text`` if ``--verb`` is at least ``level``."""
        if self.verb < level:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._stream.write(f"{stamp} {text}\n")
        self._stream.flush()

    def attempt(self, description: str) -> None:
        """A new connection attempt begins (starts the 'time taken' clock)."""
        self._attempt_started = time.monotonic()
        self.line(description, level=4)

    def stage(self, change: StateChange) -> None:
        """Report one state change from the stack."""
        if self.verb >= 4:
            detail = f": {change.detail}" if change.detail else ""
            self.line(f"[{change.layer}] {change.stage.value}{detail}", level=4)
            return
        if change.detail.startswith((QUIET_PREFIX, WARNING_PREFIX)):
            # A server gone quiet, or the keylog warning: worth a line at every verbosity.
            self.line(change.detail)
            return
        text = _PERSON_LINES.get(change.stage)
        if text is not None:
            self.line(text.format(detail=change.detail))

    def tunnel_up(self, ifname: str, summary: str) -> None:
        """The tunnel is up and the device configured."""
        taken = ""
        if self._attempt_started is not None:
            taken = f" in {time.monotonic() - self._attempt_started:.2f} s"
        self.line(f"Tunnel up on {ifname}: {summary}{taken}")

    def counters(self, statistics: Mapping[str, object]) -> None:
        """Every layer's counters (``--verb 5``)."""
        for name, record in statistics.items():
            self.line(f"  {name}: {record}", level=5)


def tunnel_addresses(info: TunnelInfo) -> list[str]:
    """The tunnel's addresses as people write them: ``10.8.0.2/24``, ``fd00::1000/64``."""
    parts = []
    if info.address is not None:
        prefix = f"/{info.network.prefixlen}" if info.network is not None else ""
        parts.append(f"{info.address}{prefix}")
    if info.address6 is not None:
        parts.append(str(info.address6))
    return parts


# The stages a person follows at the default verbosity, and how each reads.
_PERSON_LINES = {
    Stage.RESOLVING: "Resolving {detail}",
    Stage.CONNECTING: "Connecting to {detail}",
    Stage.TLS_ESTABLISHED: "TLS handshake done: {detail}",
    Stage.PUSH_RECEIVED: "Authenticated; pushed options: {detail}",
}
