"""Fuzz harness for every parser and state machine reachable from the network (issue 8 item 4).

A small library, not a test module: ``engine`` mutates samples, each ``targets_*`` module
describes one group of targets as ``Target`` records, ``runner`` tries N inputs per target and
reports crashes (any exception outside a target's documented drop/error contract) and hangs
(one input taking more than a second); ``extremes`` holds the hostile extreme cases that run
once each. ``scripts/fuzz`` is the command line; ``test_fuzz_short.py`` and
``test_fuzz_extremes.py`` are the CI tests.
"""
