"""The networkio core: TCP length framing (§1). UDP needs no core: one packet per datagram.
"""
