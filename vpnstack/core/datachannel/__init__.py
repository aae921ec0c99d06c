"""The datachannel core: data packet crypto (AEAD, CBC + HMAC, 2.7 epochs), replay, compression
framing, keepalive and the key ring (§6, §6.8, §5.7, §6.9).
"""
