"""The mutation engine and the ``Target`` record.

Every mutation draws from one seeded ``random.Random`` only, so a seed and the samples fix
the whole sequence of inputs. One mutated input is 1..4 stacked operations: bit flips,
interesting byte values, byte insert/delete/duplicate, a splice of two samples, a tweak of a
1/2/4-byte big-endian length field, truncation, and (for text targets) line operations and
dictionary words.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import attrs

from vpnstack.errors import RemoteProtocolError, VPNError

Mutator = Callable[[bytes, random.Random, Sequence[bytes]], bytes]
"""``mutator(sample, rng, all_samples) -> input``."""

DEFAULT_EXPECTED: tuple[type[BaseException], ...] = (RemoteProtocolError, VPNError)
"""The documented "drop and count" signal and the user-facing error family."""

_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x08, 0x10, 0x20, 0x40)
_INTERESTING_INT = (0, 1, 2, 4, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF)


@attrs.frozen
class Target:
    """One fuzz target: valid samples, the function under test and how to mutate."""

    name: str
    """Unique name, used by ``--target``."""
    samples: tuple[bytes, ...]
    """Valid inputs (the function accepts them); mutations start from these."""
    run: Callable[[bytes], None]
    """Feeds one input to the code under test; must build any state it needs itself."""
    mutator: Mutator | None = None
    """None: ``mutate`` with this target's ``dictionary`` and ``max_len``."""
    expected: tuple[type[BaseException], ...] = DEFAULT_EXPECTED
    """Exceptions that are the documented answer to hostile input (not crashes)."""
    dictionary: tuple[bytes, ...] = ()
    """Tokens worth inserting (directive names, option names, magic bytes)."""
    max_len: int = 4096
    """Inputs are cut to this length."""
    text: bool = False
    """Also use line-level mutations."""

    def mutate(self, sample: bytes, rng: random.Random) -> bytes:
        """One mutated input derived from ``sample``."""
        if self.mutator is not None:
            return self.mutator(sample, rng, self.samples)[: self.max_len]
        return mutate(sample, rng, self.samples, dictionary=self.dictionary, text=self.text)[
            : self.max_len
        ]


# --- byte-level operations -------------------------------------------------------------------


def _bitflip(data: bytearray, rng: random.Random) -> None:
    if not data:
        data.append(rng.randrange(256))
        return
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)


def _interesting_byte(data: bytearray, rng: random.Random) -> None:
    if not data:
        data.append(rng.choice(_INTERESTING))
        return
    data[rng.randrange(len(data))] = rng.choice(_INTERESTING)


def _random_byte(data: bytearray, rng: random.Random) -> None:
    if data:
        data[rng.randrange(len(data))] = rng.randrange(256)


def _insert(data: bytearray, rng: random.Random) -> None:
    pos = rng.randint(0, len(data))
    data[pos:pos] = rng.randbytes(rng.randint(1, 8))


def _delete(data: bytearray, rng: random.Random) -> None:
    if data:
        start = rng.randrange(len(data))
        del data[start : start + rng.randint(1, max(1, min(16, len(data) - start)))]


def _duplicate(data: bytearray, rng: random.Random) -> None:
    if data:
        start = rng.randrange(len(data))
        chunk = data[start : start + rng.randint(1, 32)]
        pos = rng.randint(0, len(data))
        data[pos:pos] = chunk * rng.randint(1, 4)


def _truncate(data: bytearray, rng: random.Random) -> None:
    if data:
        del data[rng.randrange(len(data)) :]


def _length_field(data: bytearray, rng: random.Random) -> None:
    """Read 1, 2 or 4 bytes at a random offset as a big-endian int, tweak it, write it back."""
    width = rng.choice((1, 2, 2, 4))
    if len(data) < width:
        return
    pos = rng.randrange(len(data) - width + 1)
    value = int.from_bytes(data[pos : pos + width], "big")
    top = (1 << (8 * width)) - 1
    choice = rng.randrange(5)
    if choice == 0:
        value += rng.randint(-4, 4)
    elif choice == 1:
        value = rng.choice(_INTERESTING_INT)
    elif choice == 2:
        value = top
    elif choice == 3:
        value = len(data) + rng.randint(-4, 4)
    else:
        value = rng.randint(0, top)
    data[pos : pos + width] = (value & top).to_bytes(width, "big")


_BYTE_OPS: tuple[Callable[[bytearray, random.Random], None], ...] = (
    _bitflip,
    _bitflip,
    _interesting_byte,
    _random_byte,
    _insert,
    _delete,
    _duplicate,
    _truncate,
    _length_field,
    _length_field,
)


# --- text operations -------------------------------------------------------------------------


def _line_op(data: bytearray, rng: random.Random) -> None:
    lines = bytes(data).split(b"\n")
    if not lines:
        return
    choice = rng.randrange(4)
    i = rng.randrange(len(lines))
    if choice == 0:
        del lines[i]
    elif choice == 1:
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
    elif choice == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines[i] = lines[i][: rng.randint(0, len(lines[i]))]
    data[:] = b"\n".join(lines)


def _word(data: bytearray, rng: random.Random, dictionary: Sequence[bytes]) -> None:
    word = rng.choice(dictionary)
    pos = rng.randint(0, len(data))
    if rng.random() < 0.5 and b"\n" in data:
        # at the start of a line, as a directive or option name would be
        pos = bytes(data).find(b"\n", rng.randrange(len(data))) + 1 or len(data)
    data[pos:pos] = word


def _splice(data: bytearray, rng: random.Random, samples: Sequence[bytes]) -> None:
    other = rng.choice(samples)
    cut = rng.randint(0, len(data))
    other_cut = rng.randint(0, len(other))
    data[cut:] = other[other_cut:]


def mutate(
    sample: bytes,
    rng: random.Random,
    samples: Sequence[bytes],
    *,
    dictionary: Sequence[bytes] = (),
    text: bool = False,
) -> bytes:
    """Apply 1..4 random operations to a copy of ``sample``."""
    data = bytearray(sample)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        roll = rng.random()
        if roll < 0.08 and samples:
            _splice(data, rng, samples)
        elif roll < 0.20 and dictionary:
            _word(data, rng, dictionary)
        elif roll < 0.32 and text:
            _line_op(data, rng)
        else:
            rng.choice(_BYTE_OPS)(data, rng)
    return bytes(data)


# --- a container for targets that take several packets (or chunks) per input -----------------


def pack_records(records: Sequence[bytes]) -> bytes:
    """``uint16 length || record`` for each record (the harness's own container)."""
    return b"".join(len(r).to_bytes(2, "big") + r for r in records)


def unpack_records(data: bytes) -> list[bytes]:
    """The inverse of ``pack_records``, forgiving: a length past the end takes the rest."""
    records: list[bytes] = []
    pos = 0
    while pos + 2 <= len(data):
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        records.append(data[pos : pos + length])
        pos += length
    return records


def mutate_records(sample: bytes, rng: random.Random, samples: Sequence[bytes]) -> bytes:
    """Mutate a packed record list: mutate one record, or drop/duplicate/swap records."""
    records = unpack_records(sample)
    if not records:
        return mutate(sample, rng, samples)
    choice = rng.randrange(10)
    i = rng.randrange(len(records))
    if choice < 6:
        records[i] = mutate(records[i], rng, [r for s in samples for r in unpack_records(s)])
    elif choice == 6:
        del records[i]
    elif choice == 7:
        records.insert(rng.randrange(len(records) + 1), records[i])
    elif choice == 8:
        j = rng.randrange(len(records))
        records[i], records[j] = records[j], records[i]
    else:
        return mutate(sample, rng, samples)  # also damage the container itself
    return pack_records(records)
