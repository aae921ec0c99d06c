"""The operating-system side of ``vpnstack-client``: the kernel TUN device and its configuration.

* ``tundev``: open ``/dev/net/tun`` and move IP packets through it in batches
  (``KernelTunEndpoint``, the tun layer's kernel endpoint).
* ``netconfig``: give the device its addresses, MTU and routes with pyroute2, and take back
  everything it added (``NetworkConfigurator.undo``).
"""
