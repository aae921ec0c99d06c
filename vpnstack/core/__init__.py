"""The sans-I/O protocol cores, one package per layer (see README "How it is built").

``core/<layer>/`` holds the protocol logic of the layer service ``layers/<layer>.py``: plain
classes and functions, bytes and events in, bytes and events out, time passed in as ``now``.
``core/shared/`` holds what several cores read (opcodes, the packet codec, the replay window,
cipher tables). No core imports trio, a layer service, the config package or another layer's
core; the architecture check in pyproject.toml (import-linter) enforces it.
"""
