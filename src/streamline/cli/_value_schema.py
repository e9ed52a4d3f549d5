"""``streamline consume --value-schema FILE.avsc``: Avro values printed as JSON.

Each value is decoded with the schema (:class:`~streamline.AvroCodec`) and handed to the
``--format`` renderer as its JSON text, so ``-f json`` nests it, ``-f text``/``value`` show the
JSON. A value that does not decode is printed as it is, with one line on stderr naming it.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ._consume_format import Render


def avro_values(render: Render, schema: str) -> Render:
    """``render`` behind an Avro decoder for ``schema`` (a ``ConfigurationError``, which is a
    ``ValueError``, for an unreadable or invalid schema)."""
    import orjson

    from .._codecs import AvroCodec
    from .._models import Message

    codec = AvroCodec(schema)
    dumps = orjson.dumps

    def render_decoded(batch: Sequence[Any]) -> bytes:
        shown: list[Any] = []
        for m in batch:
            if m.value is None:
                shown.append(m)
                continue
            try:
                value = dumps(codec.decode(m.value), default=_jsonable)
            except Exception as exc:
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                sys.stderr.write(
                    f"streamline: {m.topic}[{m.partition}]@{m.offset}: value does not decode as Avro "
                    f"({text}); printed as it is\n"
                )
                shown.append(m)
                continue
            shown.append(Message.create(
                m.topic, m.partition, m.offset, key=m.key, value=value, headers=m.headers, timestamp=m.timestamp,
            ))
        return render(shown)

    return render_decoded


def _jsonable(obj: Any) -> Any:
    """What orjson cannot write by itself: Avro ``bytes``/``fixed`` (as base64, like ``-f json``
    writes binary) and ``decimal`` (as a string, no precision lost)."""
    if isinstance(obj, (bytes, bytearray)):
        return {"base64": base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON")
