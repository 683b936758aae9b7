"""Hashed n-gram counts without scikit-learn: the same features as sklearn's HashingVectorizer.

The model was trained with two HashingVectorizers (analyzer "char_wb" 2-5 and "word" 1-2 with the
token pattern ``(?u)\\b\\w+\\b|[?!]``, ``alternate_sign=False``, no lowercasing, no norm). This module
produces the identical sparse counts with numpy alone, so that inference does not import sklearn
or scipy (about a second of start-up):

- MurmurHash3 (x86, 32 bit, seed 0) of each n-gram's UTF-8 bytes, vectorised over many strings;
  the column is ``abs(h) % n_features`` as in sklearn's ``_hashing_fast.transform``;
- a memo of the columns of each word's character n-grams, each word and each word pair: the hash
  is a pure function of the string and most words recur across comments, so new text costs only
  its new words (the memo is bounded and cleared when full).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_MASK = 0xFFFFFFFF
_TOKEN = re.compile(r"(?u)\b\w+\b|[?!]")  # sklearn's token pattern as the model was trained with
MEMO_LIMIT = 400_000  # entries per memo before it is cleared
_VECTOR_FROM = 16  # from this many strings on, hash with numpy; below, in plain Python


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 of `data`, as a signed 32-bit integer (sklearn's murmurhash3_bytes_s32)."""
    length = len(data)
    h = seed & _MASK
    end = length & ~3
    for i in range(0, end, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (_rotl((k * _C1) & _MASK, 15) * _C2) & _MASK
        h = (_rotl(h ^ k, 13) * 5 + 0xE6546B64) & _MASK
    tail = length & 3
    if tail:
        k = int.from_bytes(data[end:], "little")
        h ^= (_rotl((k * _C1) & _MASK, 15) * _C2) & _MASK
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def murmurhash3_32_many(items: Sequence[bytes]) -> np.ndarray:
    """Signed MurmurHash3_x86_32 (seed 0) of every byte string, vectorised: int64 array."""
    n = len(items)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=n)
    width = int(lengths.max()) + 3
    width += -width % 4
    # one row per string, zero-padded to a multiple of four bytes
    flat = np.frombuffer(b"".join(items), dtype=np.uint8)
    buffer = np.zeros((n, width), dtype=np.uint8)
    if flat.size:
        row_of = np.repeat(np.arange(n), lengths)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        column = np.arange(flat.size) - np.repeat(starts, lengths)
        buffer[row_of, column] = flat
    words = buffer.view("<u4").astype(np.uint64)  # (n, width / 4), little-endian blocks
    full = lengths // 4
    c1, c2, mask = np.uint64(_C1), np.uint64(_C2), np.uint64(_MASK)

    def rotl(x: np.ndarray, r: int) -> np.ndarray:
        return ((x << np.uint64(r)) | (x >> np.uint64(32 - r))) & mask

    h = np.zeros(n, dtype=np.uint64)
    for block in range(int(full.max()) if n else 0):
        k = rotl((words[:, block] * c1) & mask, 15) * c2 & mask
        mixed = (rotl(h ^ k, 13) * np.uint64(5) + np.uint64(0xE6546B64)) & mask
        h = np.where(full > block, mixed, h)
    tail = (lengths & 3) > 0
    if tail.any():
        # the zero padding after the last byte makes the partial block exactly the tail bytes
        k = words[np.arange(n), full]
        k = rotl((k * c1) & mask, 15) * c2 & mask
        h = np.where(tail, h ^ k, h)
    h ^= lengths.astype(np.uint64)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & mask
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & mask
    h ^= h >> np.uint64(16)
    signed = h.astype(np.int64)
    return np.where(signed >= 1 << 31, signed - (1 << 32), signed)


def hash_columns(strings: Sequence[str], n_features: int) -> np.ndarray:
    """The hashed column of each string, exactly as sklearn's FeatureHasher computes it."""
    encoded = [s.encode("utf-8", "surrogatepass") for s in strings]
    if len(encoded) >= _VECTOR_FROM:
        h = murmurhash3_32_many(encoded)
    else:
        h = np.fromiter((murmurhash3_32(b) for b in encoded), dtype=np.int64, count=len(encoded))
    columns = np.abs(h) % n_features
    columns[h == -(1 << 31)] = (2147483647 - (n_features - 1)) % n_features
    return columns


def char_wb_ngrams(word: str, low: int, high: int) -> list[str]:
    """sklearn's "char_wb" n-grams of one whitespace-free word (padded with a space each side)."""
    padded = " " + word + " "
    size = len(padded)
    grams = []
    for n in range(low, high + 1):
        offset = 0
        grams.append(padded[offset : offset + n])
        while offset + n < size:
            offset += 1
            grams.append(padded[offset : offset + n])
        if offset == 0:  # a short word (shorter than n) is counted once
            break
    return grams


@dataclass(frozen=True, slots=True)
class SparseRows:
    """A CSR matrix as three numpy arrays (no scipy at inference)."""

    indptr: np.ndarray  # (n_rows + 1,) int64
    indices: np.ndarray  # (nnz,) int64, sorted within each row
    data: np.ndarray  # (nnz,)
    n_cols: int

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, self.n_cols

    def row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """self @ weights for a dense (n_cols, k) matrix: (n_rows, k)."""
        n_rows = len(self.indptr) - 1
        dtype = np.result_type(weights.dtype, self.data.dtype)
        out = np.zeros((n_rows, weights.shape[1]), dtype=dtype)
        if self.data.size == 0:
            return out
        # the products and the running sums in row order, as scipy's CSR product computes them
        contributions = weights[self.indices] * self.data[:, None]
        starts = self.indptr[:-1]
        nonempty = self.indptr[1:] > starts
        out[nonempty] = np.add.reduceat(contributions, starts[nonempty], axis=0)
        return out

    def to_scipy(self):  # type: ignore[no-untyped-def]
        """The same matrix as scipy.sparse.csr_matrix (training only)."""
        from scipy import sparse

        return sparse.csr_matrix(
            (self.data, self.indices.astype(np.int32), self.indptr.astype(np.int64)), shape=self.shape
        )


class _Memo:
    """Strings -> their hashed columns (one or more each), stored flat for vectorised gathering."""

    def __init__(self, hash_many: Callable[[list[str]], tuple[np.ndarray, np.ndarray]]) -> None:
        self._hash_many = hash_many  # strings -> (columns of all of them, how many each)
        self.clear()

    def clear(self) -> None:
        self.ids: dict[str, int] = {}
        self.starts = np.zeros(1024, dtype=np.int64)
        self.lengths = np.zeros(1024, dtype=np.int64)
        self.columns = np.zeros(8192, dtype=np.int64)
        self.used = 0

    def lookup(self, strings: list[str]) -> np.ndarray:
        """The memo id of every string, hashing the ones not seen before."""
        ids = self.ids
        found = [ids.get(s, -1) for s in strings]
        if -1 in found:
            missing = list(dict.fromkeys(s for s, i in zip(strings, found, strict=True) if i < 0))
            if len(ids) + len(missing) > MEMO_LIMIT:
                self.clear()
                ids = self.ids
                missing = list(dict.fromkeys(strings))
            self._add(missing)
            found = [ids[s] for s in strings]
        return np.asarray(found, dtype=np.int64)

    def _add(self, strings: list[str]) -> None:
        columns, counts = self._hash_many(strings)
        first = len(self.ids)
        n = first + len(strings)
        if n > len(self.starts):
            size = max(n, 2 * len(self.starts))
            self.starts = np.resize(self.starts, size)
            self.lengths = np.resize(self.lengths, size)
        if self.used + len(columns) > len(self.columns):
            self.columns = np.resize(self.columns, max(self.used + len(columns), 2 * len(self.columns)))
        self.columns[self.used : self.used + len(columns)] = columns
        self.lengths[first:n] = counts
        self.starts[first:n] = self.used + np.concatenate(([0], np.cumsum(counts)[:-1]))
        self.used += len(columns)
        self.ids.update(zip(strings, range(first, n), strict=True))

    def gather(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(all columns of the strings `ids`, in order; how many columns each string has)."""
        lengths = self.lengths[ids]
        total = int(lengths.sum())
        if not total:
            return np.zeros(0, dtype=np.int64), lengths
        ends = np.cumsum(lengths)
        offsets = np.repeat(self.starts[ids] - (ends - lengths), lengths)
        return self.columns[offsets + np.arange(total)], lengths


class NgramHasher:
    """Normalised texts -> hashed counts of char_wb and word n-grams, chars first, words after."""

    def __init__(
        self,
        char_features: int,
        word_features: int,
        char_ngrams: tuple[int, int],
        word_ngrams: tuple[int, int],
    ) -> None:
        self.char_features = char_features
        self.word_features = word_features
        self.char_ngrams = char_ngrams
        self.word_ngrams = word_ngrams
        self._chars = _Memo(self._hash_words)  # word -> columns of its char n-grams
        self._words = _Memo(self._hash_grams)  # word n-gram -> its column (after the char block)
        self._lock = threading.Lock()

    def _hash_words(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        low, high = self.char_ngrams
        grams: list[str] = []
        counts = []
        for word in words:
            mine = char_wb_ngrams(word, low, high)
            grams += mine
            counts.append(len(mine))
        return hash_columns(grams, self.char_features), np.asarray(counts, dtype=np.int64)

    def _hash_grams(self, grams: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return hash_columns(grams, self.word_features) + self.char_features, np.ones(len(grams), np.int64)

    def word_grams(self, text: str) -> list[str]:
        tokens = _TOKEN.findall(text)
        low, high = self.word_ngrams
        grams = list(tokens) if low == 1 else []
        for n in range(max(low, 2), min(high, len(tokens)) + 1):
            grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return grams

    def counts(self, texts: Sequence[str]) -> SparseRows:
        """Raw hashed counts (duplicates summed, columns sorted in each row), as float32."""
        n_rows = len(texts)
        words: list[str] = []
        grams: list[str] = []
        word_rows = np.zeros(n_rows, dtype=np.int64)
        gram_rows = np.zeros(n_rows, dtype=np.int64)
        for row, text in enumerate(texts):
            mine = text.split()
            words += mine
            word_rows[row] = len(mine)
            mine = self.word_grams(text)
            grams += mine
            gram_rows[row] = len(mine)
        with self._lock:
            char_columns, per_word = self._chars.gather(self._chars.lookup(words))
            gram_columns, _ = self._words.gather(self._words.lookup(grams))
        chars_per_row = np.bincount(
            np.repeat(np.arange(n_rows), word_rows), weights=per_word, minlength=n_rows
        ).astype(np.int64)
        everything = np.arange(n_rows, dtype=np.int64)
        rows = np.concatenate([np.repeat(everything, chars_per_row), np.repeat(everything, gram_rows)])
        columns = np.concatenate([char_columns, gram_columns])
        return _merge(rows, columns, n_rows, self.char_features + self.word_features)


def _merge(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_cols: int) -> SparseRows:
    """(row, column) pairs, repeats allowed -> CSR with counts, columns sorted within each row."""
    if not columns.size:
        return SparseRows(
            np.zeros(n_rows + 1, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.float32),
            n_cols,
        )
    shift = max(int(n_cols - 1).bit_length(), 1)
    if (n_rows << shift) < 1 << 31:  # 32-bit keys sort about twice as fast
        rows, columns = rows.astype(np.int32), columns.astype(np.int32)
    keys, counts = np.unique((rows << shift) | columns, return_counts=True)
    key_rows = (keys >> shift).astype(np.int64)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(key_rows, minlength=n_rows), out=indptr[1:])
    return SparseRows(indptr, (keys & ((1 << shift) - 1)).astype(np.int64), counts.astype(np.float32), n_cols)
