"""The networkio core: TCP length framing (§1), and the unreachable hint of UDP (§1.6)."""
