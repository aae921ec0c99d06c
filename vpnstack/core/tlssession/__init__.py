"""The tlssession core: TLS over the control channel, key-method 2, push, key derivation and
renegotiation (§5, §5.5, §5.7).

Read ``session.py`` first (the coordinator), then ``machine.py`` (the phases of one key as
one table, drawn in ``diagrams/tlssession.md``). The core is configured by the records of
``settings.py``, never by ``vpnstack.config``.
"""
