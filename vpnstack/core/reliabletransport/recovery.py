"""Loss recovery arithmetic of the reliable layer, sans-I/O (docs §4.9): RTT, RTO, budget.

How this works
--------------
``RttEstimator`` keeps the smoothed round-trip time and its variance, RFC 6298 style, from
samples that ``ReliableCore`` takes only from packets acked after a *single* transmission
(Karn's rule: the ack of a retransmitted packet may belong to any of its copies):

* first sample R: ``srtt = R``, ``rttvar = R / 2``;
* later samples: ``rttvar = 3/4 rttvar + 1/4 |srtt - R|``, ``srtt = 7/8 srtt + 1/8 R``;
* ``rto = clamp(srtt + max(G, 4 rttvar), RTO_MIN, max_rto)``; before any sample it is
  ``tls-timeout`` (2 s), as stock.

``RTO_MIN`` is 0.2 s. RFC 6298's 1 s floor exists to stay above TCP's delayed acks (up to
500 ms); OpenVPN acks a control packet in the same event-loop pass that received it, so the
ack's delay is the path's. 0.2 s (Linux TCP's RTO_MIN) keeps a spurious retransmission rare
on any path whose jitter stays below 200 ms, and when one happens it costs one small packet
that the peer acks again (§4 rule 2). The floor never exceeds ``tls-timeout``.

``loss_delay()`` is RFC 9002's time threshold: a packet is declared lost once a packet sent
after it was acked and ``9/8 * max(srtt, latest_rtt)`` (at least ``GRANULARITY``) passed since
it was sent.

``RetransmitBudget`` bounds the retransmission rate over every key id and message: a token
bucket of ``RETRANSMIT_BURST`` (6, one send window) tokens that refills at one window per
current RTO. Each retransmission takes a token; without one it waits for the refill. So in any
interval of length T at most ``6 + 6 T / rto`` retransmissions go out, whatever the number of
packets in flight, and per-packet exponential backoff then brings the rate down further while
the peer stays silent: no flood when the server is gone.
"""

from __future__ import annotations

RTO_MIN = 0.2
"""Floor of the computed retransmission timeout, seconds (see the module docstring)."""
GRANULARITY = 0.001
"""Timer granularity (RFC 9002 kGranularity), seconds."""
TIME_THRESHOLD = 9 / 8
"""RFC 9002 kTimeThreshold: lost once 9/8 of the RTT passed after a later packet was acked."""
RETRANSMIT_BURST = 6
"""Retransmissions allowed back to back, refilled at this many per RTO (one send window)."""

_EPSILON = 1e-9


class RttEstimator:
    """Smoothed RTT, variance and the retransmission timeout (RFC 6298 §2)."""

    def __init__(self, *, initial_rto: float, max_rto: float, min_rto: float = RTO_MIN) -> None:
        self.initial_rto = initial_rto
        self.min_rto = min(min_rto, initial_rto)
        self.max_rto = max(max_rto, initial_rto)
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.latest: float | None = None
        self.samples = 0

    def sample(self, rtt: float) -> None:
        """Take one RTT measurement (from a packet acked after a single transmission)."""
        rtt = max(rtt, 0.0)
        self.latest = rtt
        self.samples += 1
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    def rto(self) -> float:
        """The timeout of a packet's first transmission: tls-timeout until a sample exists."""
        if self.srtt is None:
            return self.initial_rto
        rto = self.srtt + max(GRANULARITY, 4 * self.rttvar)
        return min(max(rto, self.min_rto), self.max_rto)

    def loss_delay(self) -> float | None:
        """RFC 9002 time threshold, or None before the first sample."""
        if self.srtt is None or self.latest is None:
            return None
        return max(TIME_THRESHOLD * max(self.srtt, self.latest), GRANULARITY)


class RetransmitBudget:
    """A token bucket: ``burst`` retransmissions at once, refilled at ``burst`` per period."""

    def __init__(self, burst: int = RETRANSMIT_BURST) -> None:
        self.burst = burst
        self._tokens = float(burst)
        self._updated: float | None = None

    def _tokens_at(self, now: float, period: float) -> float:
        if self._updated is None:
            return self._tokens
        elapsed = max(0.0, now - self._updated)
        return min(float(self.burst), self._tokens + elapsed * self.burst / period)

    def take(self, now: float, period: float) -> bool:
        """Spend one token at ``now`` if there is one (``period``: the current RTO)."""
        tokens = self._tokens_at(now, period)
        self._updated = now
        if tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, tokens - 1.0)
            return True
        self._tokens = tokens
        return False

    def ready_at(self, now: float, period: float) -> float:
        """When the next token is there (``now`` if one is there already)."""
        tokens = self._tokens_at(now, period)
        if tokens >= 1.0 - _EPSILON:
            return now
        return now + (1.0 - tokens) * period / self.burst
