"""Plain-file storage helpers for an index folder: JSON, numpy arrays, a text blob, hashes.

Nothing here unpickles: arrays are loaded with ``allow_pickle=False``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented UTF-8 JSON; a lone surrogate (an undecodable file name) is written as "?"."""
    with open(path, "w", encoding="utf-8", errors="replace") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1)
        handle.write("\n")


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save_array(path: Path, array: np.ndarray) -> None:
    np.save(path, array, allow_pickle=False)


def load_array(path: Path, mmap: bool = True) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def text_hash(text: str, salt: str = "") -> bytes:
    """16-byte content hash used as the embedding cache key."""
    return hashlib.blake2b((salt + "\x00" + text).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (hashlib.file_digest needs Python 3.11)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class TextBlob:
    """Many strings stored as one UTF-8 file plus an offsets array; memory-mapped on load."""

    def __init__(self, data: bytes | np.ndarray, offsets: np.ndarray) -> None:
        self._data = data
        self._offsets = offsets

    @staticmethod
    def write(folder: Path, name: str, texts: list[str]) -> None:
        encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        with open(folder / f"{name}.bin", "wb") as handle:
            for chunk in encoded:
                handle.write(chunk)
        save_array(folder / f"{name}.offsets.npy", offsets)

    @classmethod
    def open(cls, folder: Path, name: str) -> TextBlob:
        offsets = load_array(folder / f"{name}.offsets.npy", mmap=False)
        path = folder / f"{name}.bin"
        size = os.path.getsize(path)
        if len(offsets) == 0 or offsets[-1] != size:
            raise ValueError(f"{path.name} has {size} bytes, offsets say {offsets[-1] if len(offsets) else '?'}")
        data = np.memmap(path, dtype=np.uint8, mode="r") if size else b""
        return cls(data, offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> str:
        lo, hi = int(self._offsets[i]), int(self._offsets[i + 1])
        return bytes(self._data[lo:hi]).decode("utf-8", "surrogatepass")
