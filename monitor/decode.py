"""Content decoding with a hard output limit: gzip, deflate, brotli and zstd.

httpx decodes a whole network chunk at once, so a small compressed chunk can
expand to tens of megabytes before any cap is checked. These decoders never
produce more than the remaining budget plus one buffer, so a compression bomb
costs at most about the body cap in memory. Pure; no I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import IO, Protocol, cast

import brotli
import zstandard

from monitor.errors import BodyTooLarge, FetchError

OUTPUT_STEP = 64 * 1024


class Decoder(Protocol):
    def decode(self, data: bytes, budget: int) -> bytes:
        """Decode ``data``; raise BodyTooLarge rather than return more than ``budget`` bytes."""

    def flush(self, budget: int) -> bytes: ...


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"decompressed body is over the {limit}-byte limit")


class Identity:
    def decode(self, data: bytes, budget: int) -> bytes:
        if len(data) > budget:
            raise _too_large(budget)
        return data

    def flush(self, budget: int) -> bytes:
        return b""


class Zlib:
    """gzip (``wbits=31``) or deflate (zlib-wrapped, falling back to raw deflate)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._obj = zlib.decompressobj(31 if gzip else 15)
        self._first = True

    def decode(self, data: bytes, budget: int) -> bytes:
        if self._first and not self._gzip and data and (data[0] & 0x0F) != 8:
            self._obj = zlib.decompressobj(-15)  # raw deflate, as some servers send
        self._first = False
        out = bytearray()
        pending = data
        try:
            while True:
                out += self._obj.decompress(pending, budget - len(out) + 1)
                if len(out) > budget:
                    raise _too_large(budget)
                pending = self._obj.unconsumed_tail
                if not pending:
                    return bytes(out)
        except zlib.error as exc:
            raise FetchError(f"could not decode the compressed body: {exc}") from None

    def flush(self, budget: int) -> bytes:
        try:
            rest = self._obj.flush()
        except zlib.error as exc:
            raise FetchError(f"could not decode the compressed body: {exc}") from None
        if len(rest) > budget:
            raise _too_large(budget)
        return rest


class Brotli:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def decode(self, data: bytes, budget: int) -> bytes:
        out = bytearray()
        try:
            out += self._obj.process(data, output_buffer_limit=OUTPUT_STEP)
            while not self._obj.can_accept_more_data():
                if len(out) > budget:
                    raise _too_large(budget)
                out += self._obj.process(b"", output_buffer_limit=OUTPUT_STEP)
        except brotli.error as exc:
            raise FetchError(f"could not decode the brotli body: {exc}") from None
        if len(out) > budget:
            raise _too_large(budget)
        return bytes(out)

    def flush(self, budget: int) -> bytes:
        return b""


class _Sink:
    """Receives zstd output in chunks of at most ``write_size``; refuses past the budget."""

    def __init__(self) -> None:
        self.chunks = bytearray()
        self.budget = 0

    def write(self, data: bytes) -> int:
        if len(self.chunks) + len(data) > self.budget:
            raise _too_large(self.budget)
        self.chunks += data
        return len(data)


class Zstd:
    def __init__(self) -> None:
        self._sink = _Sink()
        self._writer = zstandard.ZstdDecompressor().stream_writer(
            cast(IO[bytes], self._sink), write_size=OUTPUT_STEP, closefd=False
        )

    def decode(self, data: bytes, budget: int) -> bytes:
        self._sink.budget = budget
        try:
            self._writer.write(data)
        except zstandard.ZstdError as exc:
            raise FetchError(f"could not decode the zstd body: {exc}") from None
        out = bytes(self._sink.chunks)
        self._sink.chunks.clear()
        return out

    def flush(self, budget: int) -> bytes:
        return b""


DECODERS: dict[str, Callable[[], Decoder]] = {
    "identity": Identity,
    "gzip": lambda: Zlib(gzip=True),
    "x-gzip": lambda: Zlib(gzip=True),
    "deflate": lambda: Zlib(gzip=False),
    "br": Brotli,
    "zstd": Zstd,
}
ACCEPT_ENCODING = "gzip, deflate, br, zstd"


def decoder_for(content_encoding: str | None) -> list[Decoder]:
    """Decoders to apply in order (the header lists encodings in the order applied)."""
    names = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    chain = []
    for name in reversed(names):
        factory = DECODERS.get(name)
        if factory is None:
            raise FetchError(f"unsupported content encoding {name!r}")
        chain.append(factory())
    return chain or [Identity()]


def decode_chunk(chain: list[Decoder], data: bytes, budget: int) -> bytes:
    for decoder in chain:
        data = decoder.decode(data, budget)
    return data


def flush_chain(chain: list[Decoder], budget: int) -> bytes:
    out = b""
    for i, decoder in enumerate(chain):
        tail = decoder.flush(budget)
        for later in chain[i + 1 :]:
            tail = later.decode(tail, budget)
        out += tail
    return out
