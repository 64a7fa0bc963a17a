"""Deterministic randomness: every stream derives from (seed, label…), never from the clock.

Separate labelled streams keep phases independent: adding a draw to the deals code does not
shift every email event. `unit_hash` gives a per-record uniform that any later process (e.g.
`advance`) can recompute from the record's id alone.
"""

from __future__ import annotations

import zlib

import numpy as np

NEVER = np.iinfo(np.int64).max  # "no such time yet" in int64 ms arrays
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def stream(seed: int, *labels: object) -> np.random.Generator:
    """A generator for one labelled phase of one portal."""
    words = [seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF]
    words += [zlib.crc32(str(label).encode()) for label in labels]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


def unit_hash(seed: int, ids: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64(id, seed, salt) mapped to [0, 1): stable per record across processes."""
    with np.errstate(over="ignore"):
        x = ids.astype(np.uint64) ^ np.uint64((seed * 0x9E3779B97F4A7C15 + salt) % 2**64)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_SLOTS = np.r_[0:8, 9:13, 14:18, 19:23, 24:36]  # where the 32 hex digits go


def uuids(rng: np.random.Generator, n: int) -> list[str]:
    """n uuid-4-shaped strings (HubSpot event ids look like this), built without a loop."""
    if n == 0:
        return []
    nibbles = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    nibbles[:, 12] = 4  # version 4
    nibbles[:, 16] = 8 | (nibbles[:, 16] & 3)  # RFC 4122 variant
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_SLOTS] = _HEX[nibbles]
    return text.view("S36").ravel().astype("U36").tolist()


def pick(rng: np.random.Generator, n: int, weights: tuple[float, ...] | np.ndarray
         ) -> np.ndarray:
    """n indices drawn with the given (unnormalised) weights."""
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())


def increasing_ids(rng: np.random.Generator, start: int, n: int, max_gap: int = 40
                   ) -> np.ndarray:
    """Ids that grow with creation order but leave gaps, as HubSpot's do."""
    return start + np.cumsum(rng.integers(1, max_gap, size=n, dtype=np.int64))
