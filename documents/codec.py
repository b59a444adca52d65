"""Zstandard frames, with a dictionary trained on the store's own documents once it holds enough.

Webhook documents are small (about 1 KB) and alike: compressed one by one, zstd saves only about
half (2.3× on the bench org); with a 64 KB dictionary trained on 2,000 of them, 6×, and each
document still decompresses on its own. Every frame names its dictionary (zstd's dict id), so
documents compressed before the dictionary existed, or by another process that trained its own
(an S3 store shared by several workers), stay readable: a store keeps every dictionary it ever used.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence

import zstandard

LEVEL = 3
# Documents a dictionary is trained on, and its size: 2,000 bench documents train in about 1.5 s.
SAMPLES = 2000
DICTIONARY_BYTES = 64 * 1024
# zstd reserves dictionary ids below 32,768 (and 0 means none).
_FIRST_FREE_ID = 32_768


class Codec:
    """Compresses with the current dictionary (none until one is trained) and decompresses any frame."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dictionaries: dict[int, zstandard.ZstdCompressionDict] = {}
        self._compressor = zstandard.ZstdCompressor(level=LEVEL)
        # By dictionary id; 0 reads frames compressed without one.
        self._readers: dict[int, zstandard.ZstdDecompressor] = {0: zstandard.ZstdDecompressor()}
        self.dictionary_id: int | None = None

    def use(self, dictionary_id: int, data: bytes) -> None:
        """Compress from now on with this dictionary (and be able to read its frames)."""
        with self._lock:
            found = self._learn(dictionary_id, data)
            self._compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=found)
            self.dictionary_id = dictionary_id

    def _learn(self, dictionary_id: int, data: bytes) -> zstandard.ZstdCompressionDict:
        found = self._dictionaries.get(dictionary_id)
        if found is None:
            found = self._dictionaries[dictionary_id] = zstandard.ZstdCompressionDict(data)
            self._readers[dictionary_id] = zstandard.ZstdDecompressor(dict_data=found)
        return found

    def compress(self, bodies: Sequence[bytes]) -> list[bytes]:
        """One frame per body."""
        with self._lock:
            return [self._compressor.compress(body) for body in bodies]

    def decompress(self, frame: bytes, load: Callable[[int], bytes | None]) -> bytes:
        """The body of a frame; `load` fetches a dictionary this codec has not seen yet."""
        dictionary_id = zstandard.get_frame_parameters(frame).dict_id
        with self._lock:
            known = dictionary_id in self._readers
        if not known:
            data = load(dictionary_id)
            if data is None:
                raise ValueError(f"the document names zstd dictionary {dictionary_id}, which the store does not hold")
            with self._lock:
                self._learn(dictionary_id, data)
        with self._lock:
            return self._readers[dictionary_id].decompress(frame)


def train(samples: Sequence[bytes]) -> tuple[int, bytes]:
    """A new dictionary (its id and bytes) trained on the samples."""
    dictionary_id = _FIRST_FREE_ID + secrets.randbelow(2**31 - _FIRST_FREE_ID)
    trained = zstandard.train_dictionary(DICTIONARY_BYTES, list(samples), dict_id=dictionary_id, level=LEVEL)
    return dictionary_id, trained.as_bytes()


def plain(body: bytes) -> bytes:
    """One frame without a dictionary (what a store writes about documents rather than documents)."""
    return zstandard.ZstdCompressor(level=LEVEL).compress(body)
