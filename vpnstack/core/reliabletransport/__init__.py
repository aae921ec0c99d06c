"""The reliabletransport core: message ids, acks, windows and retransmission (§4).
"""
