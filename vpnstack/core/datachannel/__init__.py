"""The datachannel core: data packet crypto (AEAD, CBC + HMAC, 2.7 epochs), replay, compression
framing, keepalive and the key ring (§7, §8, §9, §10).
"""
