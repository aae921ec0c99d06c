"""What several layers' cores share: opcodes and the packet header, the control-packet
codec, the packet-id replay window, the cipher tables, the compression framing names and
the drop counter. It imports no other core package.
"""
