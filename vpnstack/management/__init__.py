"""The OpenVPN management interface (management-notes.txt, version 5), as a trio service.

How this works: ``core.ManagementCore`` is the protocol, sans I/O: command lines in, reply
bytes and requests out, with time passed in as ``now``. ``service.ManagementInterface``
listens on TCP (loopback) or a unix socket, runs one task per management client, feeds the
core and delivers what it returns. ``events`` holds every record that crosses the boundary.

Integration contract (what the VPN client lifecycle does with a running interface ``mi``):

Feed, with ``mi.post(event)`` (never blocks, callable from any trio task):

* ``HoldWaiting(seconds)`` before every session (initial start and each restart), then wait
  for ``ReleaseHold`` before connecting (it comes at once when the hold flag is off);
* ``StateEvent`` on every state: RESOLVE, TCP_CONNECT, CONNECTING (start), WAIT (reset sent),
  AUTH (TLS up, key-method 2), GET_CONFIG (push request), AUTH_PENDING, ASSIGN_IP (with the
  tunnel addresses), ADD_ROUTES, CONNECTED (detail ``SUCCESS``/``ERROR``, the tunnel
  addresses and both sockets), RECONNECTING / EXITING (detail: the signal name or reason);
* ``LogEvent`` for each line the client logs (never one with a secret in it), ``Fatal`` just
  before a fatal exit, ``InfoMsg`` for INFO_PRE/INFO from the server, ``Echo`` for each
  pushed or configured ``echo``;
* ``NeedPassword`` when ``settings.query_passwords`` is set and credentials are needed, then
  wait for ``Credentials``; ``AuthFailed`` after AUTH_FAILED; ``AuthTokenEvent`` when the
  server pushes an auth-token; ``UpDown`` when the tunnel goes up or down;
* ``Traffic`` counters: give ``ManagementInterface(traffic=...)`` a callable and the service
  polls it before each command and each bytecount tick.

Act on, read from ``mi.requests`` (a trio receive channel; never leave it unread for long,
the service drops requests beyond its buffer rather than block):

* ``ReleaseHold`` — start the session; ``Signal(name)`` — do what that signal does
  (SIGUSR1 reconnect, SIGHUP reload, SIGTERM/SIGINT leave, SIGUSR2 print status);
* ``Credentials(kind, username, password)`` — use them for the pending query;
  ``ForgetPasswords`` — drop cached credentials and the auth-token;
* ``SetAuthRetry(mode)``, ``SetVerb(n)``, ``SetMute(n)`` — change those settings;
* ``CrResponse(text)`` — send ``CR_RESPONSE,<text>`` to the server on the control channel.

Running it (a sketch of the coming lifecycle integration)::

    mi = ManagementInterface(settings, title="vpnstack 0.1.0", traffic=lambda: counters())
    async with trio.open_nursery() as nursery:
        await nursery.start(mi.run)              # listening; mi.address says where
        nursery.start_soon(act_on, mi.requests)  # ONE task consumes the requests
        mi.post(StateEvent(State.CONNECTING))
        ...

Replies are stock's bytes (tests/management/test_against_stock.py compares them with the
installed OpenVPN 2.6). Deliberate differences: several management clients at once (stock:
one); a parameter may exceed 256 characters (stock's error would repeat it, i.e. the
password); lines are bounded at ``max_line`` and a client that does not read is dropped;
``version N`` (N >= 4) gets current OpenVPN's SUCCESS reply (adc0feb), which 2.6 never sends.
"""
