"""The tlssession core: TLS over the control channel, key-method 2, push, key derivation and
renegotiation (§5, §6, §9).
"""
