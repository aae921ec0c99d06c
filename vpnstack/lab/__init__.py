"""The lab: a real OpenVPN 2.6 server in its own network namespace, for tests and the demo.

``OpenVPNLab(ServerOptions(...))`` generates a PKI (``pki``), creates a namespace with a veth
pair (``netns``), writes ``server.conf`` and runs Debian's ``openvpn`` inside the namespace
(``server``). ``relay`` is a seeded lossy UDP relay to put between a client and the server.
Needs root and the ``openvpn``, ``ip`` binaries.
"""
