"""Codecs: how typed values become bytes on the wire and back.

One concept everywhere: :class:`Codec` is two methods, ``encode(value) -> bytes`` and
``decode(data) -> value``, plus an optional ``content_type`` attribute (written as the
``content-type`` header when the producer is asked to). :class:`~streamline.Producer`,
:func:`~streamline.consume` and the pipeline's sinks take one the same way::

    async for msg in consume("orders", value=Order):   # a msgspec Struct or pydantic model
        print(msg.value.total)                          # msg.value is an Order

:func:`as_codec` turns what users write (``Order``, ``str``, ``"text"``, ``"json"``, the
``json`` module, a codec instance) into a codec; raw bytes are ``None``: no codec, no cost.
Heavy libraries (orjson, msgspec, pydantic, fastavro) are imported only by the codec that
needs them, never by ``import streamline``.

Optional capabilities are found with ``getattr`` so the protocol never grows: ``content_type``
today, ``decode_with_headers`` (:class:`AutoCodec`); a schema-registry codec (Confluent wire
format, planned) will add an optional async hook that resolves unseen schema ids once per
fetched batch, and plain two-method codecs stay as they are.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from ._errors import ConfigurationError, StreamlineError

if TYPE_CHECKING:
    from pathlib import Path  # not at run time: 0.35 MB of a following ship's memory

T = TypeVar("T")

#: The header that names a value's codec, as in CloudEvents' Kafka binding.
CONTENT_TYPE_HEADER = "content-type"


@runtime_checkable
class Codec(Protocol[T]):
    """Turns values into bytes and back; anything with these two methods is a codec.

    An optional ``content_type`` attribute (e.g. ``"application/json"``) is written as the
    ``content-type`` header by producers that ask for it, and lets :class:`AutoCodec` pick the
    codec per message. ``decode`` raises any exception for bad input: the stream turns it into
    a :class:`DecodeError` for the failure policy.

    >>> class Upper:
    ...     content_type = "text/x-upper"
    ...     def encode(self, value: str) -> bytes: return value.upper().encode()
    ...     def decode(self, data: bytes) -> str: return data.decode().lower()
    >>> isinstance(Upper(), Codec)
    True
    """

    def encode(self, value: T, /) -> bytes: ...

    def decode(self, data: bytes, /) -> T: ...


class DecodeError(StreamlineError):
    """A message's value (or key) does not decode with the stream's codec.

    Raised by a stream whose ``on_decode_error`` says stop (the default); ``topic``,
    ``partition`` and ``offset`` name the message, which is not committed.
    """

    def __init__(self, message: str, *, topic: str = "", partition: int = -1, offset: int = -1) -> None:
        super().__init__(message)
        self.topic = topic
        self.partition = partition
        self.offset = offset


class EncodeError(StreamlineError, ValueError):
    """A value (or key) cannot be encoded with the producer's codec; nothing was sent."""


def _missing(package: str, extra: str, what: str) -> ConfigurationError:
    return ConfigurationError(f"{what} needs {package}: pip install 'streamline[{extra}]' (or pip install {package})")


class BytesCodec:
    """Raw bytes both ways (the default; streams and producers skip it entirely)."""

    content_type = "application/octet-stream"

    def encode(self, value: bytes) -> bytes:
        if type(value) is bytes:
            return value
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        raise TypeError(f"expected bytes, got {type(value).__name__}")

    def decode(self, data: bytes) -> bytes:
        return data

    def __repr__(self) -> str:
        return "BytesCodec()"


class TextCodec:
    """UTF-8 text; bytes that are not valid UTF-8 fail to decode (nothing is replaced)."""

    content_type = "text/plain; charset=utf-8"

    def encode(self, value: str) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {type(value).__name__}")
        return value.encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")

    def __repr__(self) -> str:
        return "TextCodec()"


class JsonCodec:
    """JSON with orjson (the fastest encoder measured; a small core dependency): any value
    orjson encodes (dict, list, str, numbers, dataclasses, datetime, ...), decoded to plain
    Python objects (``Any``).

    >>> JsonCodec().decode(JsonCodec().encode({"name": "Zoë", "items": [1, 2]}))
    {'name': 'Zoë', 'items': [1, 2]}
    """

    content_type = "application/json"

    def __init__(self) -> None:
        try:
            import orjson
        except ImportError:  # pragma: no cover - a core dependency
            raise _missing("orjson", "json", "the JSON codec") from None
        self._dumps: Callable[[Any], bytes] = orjson.dumps
        self.decode: Callable[[bytes], Any] = orjson.loads  # the bound C function: no Python frame

    def encode(self, value: Any) -> bytes:
        return self._dumps(value)

    def __repr__(self) -> str:
        return "JsonCodec()"


class StructCodec(Generic[T]):
    """JSON into and out of a msgspec ``Struct`` type (validated while decoding: the fastest
    typed path).

    >>> import msgspec
    >>> class Order(msgspec.Struct):
    ...     id: int
    ...     note: str | None = None
    >>> StructCodec(Order).decode(b'{"id": 7}')
    Order(id=7, note=None)
    """

    content_type = "application/json"

    def __init__(self, type_: type[T]) -> None:
        try:
            import msgspec
        except ImportError:
            raise _missing("msgspec", "msgspec", f"value type {type_!r}") from None
        self.type = type_
        self.decode: Callable[[bytes], T] = msgspec.json.Decoder(type_).decode
        self._encode: Callable[[Any], bytes] = msgspec.json.Encoder().encode

    def encode(self, value: T) -> bytes:
        if not isinstance(value, self.type):  # msgspec would encode any object it knows
            raise TypeError(f"expected {self.type.__name__}, got {type(value).__name__}")
        return self._encode(value)

    def __repr__(self) -> str:
        return f"StructCodec({self.type.__name__})"


class PydanticCodec(Generic[T]):
    """JSON into and out of a pydantic (v2) model: ``model_validate_json`` / ``model_dump_json``.

    >>> import pydantic
    >>> class Invoice(pydantic.BaseModel):
    ...     order: int
    >>> PydanticCodec(Invoice).encode(Invoice(order=7))
    b'{"order":7}'
    """

    content_type = "application/json"

    def __init__(self, model: type[T]) -> None:
        validate = getattr(model, "model_validate_json", None)
        if validate is None:
            raise ConfigurationError(f"{model!r} is not a pydantic v2 model (no model_validate_json)")
        self.type = model
        self.decode: Callable[[bytes], T] = validate

    def encode(self, value: T) -> bytes:
        if not isinstance(value, self.type):
            raise TypeError(f"expected {self.type.__name__}, got {type(value).__name__}")
        data: str = value.model_dump_json()  # type: ignore[attr-defined]
        return data.encode("utf-8")

    def __repr__(self) -> str:
        return f"PydanticCodec({self.type.__name__})"


class AvroCodec:
    """Avro binary (no container, no registry framing) with a schema, through fastavro; values
    are dicts. ``schema`` is a parsed schema dict or the path of an ``.avsc`` file.

    >>> codec = AvroCodec("schemas/order.avsc")  # doctest: +SKIP
    >>> codec.decode(codec.encode({"id": 7, "customer": "Zoë"}))  # doctest: +SKIP
    {'id': 7, 'customer': 'Zoë'}

    A schema-registry codec (the Confluent wire format: magic byte, schema id, Avro body) is
    planned; it will be another codec of this protocol.
    """

    content_type = "application/avro"

    def __init__(self, schema: str | Path | dict[str, Any]) -> None:
        try:
            import fastavro
        except ImportError:
            raise _missing("fastavro", "avro", "the Avro codec") from None
        parsed: Any = schema
        if isinstance(schema, (str, os.PathLike)):
            import json

            try:
                with open(schema, encoding="utf-8") as f:
                    parsed = json.load(f)
            except OSError as exc:
                raise ConfigurationError(f"cannot read Avro schema {str(schema)!r}: {exc.strerror}") from None
            except ValueError as exc:
                raise ConfigurationError(f"Avro schema {str(schema)!r} is not JSON: {exc}") from None
        try:
            self.schema = fastavro.parse_schema(parsed)
        except Exception as exc:  # fastavro raises several kinds (SchemaParseException, KeyError, ...)
            raise ConfigurationError(f"invalid Avro schema: {exc}") from None
        self._write = fastavro.schemaless_writer
        self._read = fastavro.schemaless_reader

    def encode(self, value: Any) -> bytes:
        import io

        out = io.BytesIO()
        self._write(out, self.schema, value)
        return out.getvalue()

    def decode(self, data: bytes) -> Any:
        import io

        stream = io.BytesIO(data)
        value = self._read(stream, self.schema, None)
        if stream.tell() != len(data):
            raise ValueError(f"{len(data) - stream.tell()} bytes left over after the Avro record")
        return value

    def __repr__(self) -> str:
        return f"AvroCodec({self.schema.get('name', 'schema') if isinstance(self.schema, dict) else 'schema'})"


class AutoCodec:
    """Chooses the codec per message from its ``content-type`` header.

    ``codecs`` are matched on their ``content_type`` (parameters such as ``charset`` are
    ignored); a message without the header, or with another type, is decoded by ``fallback``
    (a decode failure when there is none). Encoding uses the first codec.

    >>> stream = consume("events", value=AutoCodec(JsonCodec(), AvroCodec("e.avsc")))  # doctest: +SKIP
    """

    def __init__(self, *codecs: Codec[Any], fallback: Codec[Any] | None = None) -> None:
        if not codecs:
            codecs = (JsonCodec(), TextCodec(), BytesCodec())
            fallback = fallback or codecs[-1]
        self.codecs = codecs
        self.fallback = fallback
        self._by_type: dict[str, Codec[Any]] = {}
        for codec in codecs:
            ctype = getattr(codec, "content_type", None)
            if not isinstance(ctype, str):
                raise ConfigurationError(f"AutoCodec needs codecs with a content_type (got {codec!r})")
            self._by_type.setdefault(_media_type(ctype.encode()), codec)
        self.content_type = getattr(codecs[0], "content_type", None)

    def encode(self, value: Any) -> bytes:
        return self.codecs[0].encode(value)

    def decode(self, data: bytes) -> Any:
        if self.fallback is None:
            raise ValueError("no content-type header to choose a codec by")
        return self.fallback.decode(data)

    def decode_with_headers(self, data: bytes, headers: Sequence[tuple[str, bytes]]) -> Any:
        """Decode by the message's ``content-type`` header (see the class docstring)."""
        for name, ctype in headers:
            if name.lower() == CONTENT_TYPE_HEADER:
                codec = self._by_type.get(_media_type(ctype))
                if codec is not None:
                    return codec.decode(data)
                if self.fallback is None:
                    raise ValueError(f"no codec for content-type {ctype.decode('utf-8', 'replace')!r}")
                break
        return self.decode(data)

    def __repr__(self) -> str:
        return f"AutoCodec({', '.join(map(repr, self.codecs))})"


def _media_type(value: bytes) -> str:
    """``application/json`` for ``Application/JSON; charset=utf-8``."""
    return value.split(b";", 1)[0].strip().decode("ascii", "replace").lower()


#: What ``value=``/``key=`` accept: a type, a codec, a name, the json module; None = raw bytes.
CodecSpec = Any

NAMES = ("bytes", "text", "json", "auto")


def as_codec(spec: CodecSpec, what: str = "value") -> Codec[Any] | None:
    """The codec for ``spec``, or None for raw bytes (the fast path: nothing to do).

    Accepts ``None``/``bytes``/``"bytes"`` (raw), ``str``/``"text"`` (UTF-8), ``"json"`` or the
    ``json`` module (JSON), ``"auto"`` (:class:`AutoCodec` of JSON, text and bytes), a msgspec
    ``Struct`` type, a pydantic model class, or any :class:`Codec`.

    >>> as_codec("text")
    TextCodec()
    >>> as_codec(bytes) is None
    True
    """
    if spec is None or spec is bytes or spec == "bytes" or isinstance(spec, BytesCodec):
        return None
    if spec is str or spec == "text":
        return TextCodec()
    if spec == "json" or (isinstance(spec, ModuleType) and spec.__name__ == "json"):
        return JsonCodec()
    if spec == "auto":
        return AutoCodec()
    if isinstance(spec, type):
        msgspec = sys.modules.get("msgspec")  # a Struct type means msgspec is imported already
        if msgspec is not None and issubclass(spec, msgspec.Struct):
            return StructCodec(spec)
        pydantic = sys.modules.get("pydantic")
        if pydantic is not None and issubclass(spec, pydantic.BaseModel):
            return PydanticCodec(spec)
    elif callable(getattr(spec, "encode", None)) and callable(getattr(spec, "decode", None)):
        return spec  # type: ignore[no-any-return]
    raise ConfigurationError(
        f"{what}= must be bytes, str, 'text', 'json', 'auto', a msgspec Struct or pydantic model "
        f"class, or a codec with encode() and decode() (got {spec!r})"
    )


def describe_codec(codec: Codec[Any]) -> str:
    """How a codec is named in error messages: ``Order (msgspec)``, ``JSON``, ``text``."""
    kind = getattr(codec, "type", None)
    if isinstance(kind, type):
        return kind.__name__
    names = {TextCodec: "UTF-8 text", JsonCodec: "JSON", AvroCodec: "Avro"}
    return names.get(type(codec), repr(codec))
