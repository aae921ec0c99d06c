"""The packetmuxer core: classify each received packet by its first byte (§2).
"""
