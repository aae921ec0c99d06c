"""Fuzz harness for every parser and state machine reachable from the network, and for the
config parser (issue 8 item 4, "Hostile input").

A small library, not a test module:

* ``engine``: the ``Target`` record and the seeded mutation engine;
* one module per target group, each with ``targets() -> list[Target]``: ``targets_packets``
  (codec, muxer), ``targets_tcp`` (TCP deframing), ``targets_control`` (control unwrap for
  every wrapping), ``targets_reliable``, ``targets_data`` (data-channel open, replay window,
  compression framing, key rotation), ``targets_tls`` (control text, PUSH_REPLY, key-method
  2, early negotiation), ``targets_session`` (the whole ``SessionCore`` against a scripted
  TLS server), ``targets_x509`` (the TLS verify callback, TLS records),
  ``targets_icmp`` (echo replies from the tunnel), ``targets_config`` (the .ovpn corpus and lab
  configs) and ``grammar`` (generated configs and PUSH_REPLYs); ``registry`` lists them all;
* ``runner``: tries N inputs per target, reports crashes (any exception outside a target's
  documented drop/error contract) and hangs (one input over a second), saves the inputs;
* ``extremes``: hostile extreme cases, each run once in a bounded child process;
* ``keys``: deterministic key material and a deterministic Ed25519 test PKI.

``scripts/fuzz`` is the command line; ``test_fuzz_short.py`` and ``test_fuzz_extremes.py``
are what CI runs.
"""
