"""The controlchannel core: control packets' session ids and wrapping (none, tls-auth,
tls-crypt, tls-crypt-v2), static key files and the tls-crypt-v2 client key (§3, §3.5).
"""
