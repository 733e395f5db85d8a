"""Bounded, incremental decompression of request bodies (gzip, deflate); pure.

`Inflater.feed()` never produces more than `limit + 1` bytes in total, whatever the
compression ratio, so a gzip bomb costs at most `limit` bytes of memory before it is
refused. Concatenated gzip members (RFC 1952) are decoded one after another.
"""

from __future__ import annotations

import zlib

ENCODINGS = ("gzip", "x-gzip", "deflate")


class TooLarge(Exception):
    """The decompressed body exceeds the limit."""


class Corrupt(Exception):
    """The body is not valid data for its declared encoding."""


def _wbits(encoding: str, first: bytes) -> int:
    if encoding in ("gzip", "x-gzip"):
        return 16 + zlib.MAX_WBITS
    # HTTP "deflate" is the zlib format (RFC 9110), but some clients send raw deflate.
    is_zlib = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
    return zlib.MAX_WBITS if is_zlib else -zlib.MAX_WBITS


class Inflater:
    """Feed compressed chunks, get decompressed bytes; raise `TooLarge` past `limit`."""

    def __init__(self, encoding: str, limit: int) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"unsupported encoding {encoding!r}")
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self._d: zlib._Decompress | None = None
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        """Decompress the next chunk of the body."""
        if self._d is None:
            # Two bytes are enough to tell zlib from raw deflate.
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return b""
            self._pending = b""
            self._d = zlib.decompressobj(_wbits(self.encoding, data))
        out: list[bytes] = []
        while data:
            if self._d.eof:
                # A new gzip member starts (RFC 1952 allows several); deflate has one.
                if self.encoding == "deflate":
                    raise Corrupt("trailing data after the deflate stream")
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                piece = self._d.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                raise Corrupt(str(exc)) from exc
            self.size += len(piece)
            if self.size > self.limit:
                raise TooLarge
            out.append(piece)
            # Input left over is either held back by the output cap or past the member's end.
            data = self._d.unconsumed_tail or self._d.unused_data
        return b"".join(out)

    def finish(self) -> bytes:
        """Check the stream ended cleanly; returns nothing more in practice."""
        if self._pending or self._d is None:
            raise Corrupt("the compressed body is empty or truncated")
        try:
            tail = self._d.flush()
        except zlib.error as exc:
            raise Corrupt(str(exc)) from exc
        self.size += len(tail)
        if self.size > self.limit:
            raise TooLarge
        if not self._d.eof:
            raise Corrupt("the compressed body is truncated")
        return tail
