#!/usr/bin/python3
"""Follows keytrail's event topic and prints one line per event.

A downstream consumer written from docs/events.md alone: confluent_kafka reads the
records, the Python code flatc generates from schemas/events.fbs decodes them. Each line
is the event's time, org, type (ce_type without "io.keytrail." and ".v1"), the payload's
fields and who acted:

  2026-11-30T20:00:21.306948Z default key.created key_id=EJKN... name="ci bot" ...

Secret material never reaches the topic; the SHA-256 of a key's secret does, and this
prints no hash either.

Usage (Debian packages python3-confluent-kafka and python3-flatbuffers):

  flatc --python --gen-object-api -o /tmp/keytrail-py schemas/events.fbs
  PYTHONPATH=/tmp/keytrail-py tools/examples/consume_events.py \\
      --bootstrap 127.0.0.1:39011 --from-beginning [--org default] \\
      [--max-events N] [--timeout S] [--internal]

(the build generates the same code into build/python). Exit status: 0 after
--max-events events, after --timeout seconds without a new record, or on Ctrl-C; 1 when
a record cannot be read (Kafka error, not an envelope, a schema newer than this code);
2 for bad arguments.
"""

import argparse
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException,
                             TopicPartition)

from keytrail.fb.Envelope import Envelope, EnvelopeT
from keytrail.fb.Payload import Payload
from keytrail.fb.Sha256 import Sha256T

# The newest Envelope.schema_version this code was written for (docs/events.md).
KNOWN_SCHEMA_VERSION = 1
DATASCHEMA_PREFIX = "urn:keytrail:events:schema:"
PAYLOAD_NAMES = {v: k for k, v in vars(Payload).items() if not k.startswith("_")}
ACTOR_KINDS = {0: "unknown", 1: "key", 2: "member", 3: "system", 4: "scheduler"}

# flatc 2.0.8's object API cannot unpack a fixed-size array inside a struct (Sha256.bytes
# raises; fixed in flatbuffers 22.9.24, google/flatbuffers#7529). This never prints
# hashes, so they are not unpacked at all.
Sha256T._UnPack = lambda self, sha256: None


class StopReading(Exception):
    """A record this consumer must not pass over (exit status 1)."""


def murmur2(data: bytes) -> int:
    """Kafka's Java default partitioner hash; keytrail places org X in murmur2(X) % n."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = (int.from_bytes(data[i:i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> r)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[length - length % 4:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h = ((h ^ tail[0]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def format_time(us: int) -> str:
    """RFC 3339 UTC with microseconds, as in ce_time."""
    t = datetime.fromtimestamp(us // 1_000_000, timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{us % 1_000_000:06d}Z"


def format_duration(us: int) -> str:
    seconds = us // 1_000_000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def snake(name: str) -> str:
    """The object API's camelCase attribute back to the schema's field name."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def format_value(name: str, value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value if re.fullmatch(r"[^\s\"=]+", value) else '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(format_value(name, v) for v in value) + "]"
    if hasattr(value, "__dict__"):  # a nested table: Rule, KeyUsed
        return "{" + " ".join(format_fields(value)) + "}"
    if name.endswith("_us"):
        # *_at_us and *_until_us are times; the other *_us (the policy's) are durations.
        if name.endswith("_at_us") or name.endswith("_until_us"):
            if value == 0:  # an expiry of 0 is never; previous_valid_until 0 is at once
                return "at-once" if name == "previous_valid_until_us" else "never"
            return format_time(value)
        return format_duration(value) if value else "off"
    return str(value)


def format_fields(table) -> list:
    """name=value for each field of a decoded table, in schema order, hashes left out.

    Fields guarded by a `<x>_changed` flag (KeyUpdated) appear only when it is true.
    Empty strings and lists are left out.
    """
    fields = {snake(k): v for k, v in vars(table).items()}
    out = []
    for name, value in fields.items():
        if name.endswith("_changed") and isinstance(value, bool):
            continue
        guard = next((g for g in fields if g.endswith("_changed")
                      and name.startswith(g[:-len("_changed")])), None)
        if guard is not None and not fields[guard]:
            continue
        if isinstance(value, Sha256T) or name.endswith("hash"):
            continue
        if value is None or value == "" or value == b"" or value == []:
            continue
        shown = name[:-3] if name.endswith("_us") else name
        out.append(f"{shown}={format_value(name, value)}")
    return out


def format_actor(actor) -> str:
    if actor is None:
        return "by=unknown"
    kind = ACTOR_KINDS.get(actor.kind, str(actor.kind))
    text = f"by={kind}:{actor.id.decode()}" if actor.id else f"by={kind}"
    if actor.onBehalfOf:
        text += f" on_behalf_of=member:{actor.onBehalfOf.decode()}"
    return text


def decode(value: bytes) -> EnvelopeT:
    """One record's value: a size-prefixed FlatBuffer Envelope with identifier KTEV.

    The Python runtime has no verifier, so a damaged buffer may raise any exception.
    """
    if len(value) < 8 or int.from_bytes(value[:4], "little") != len(value) - 4:
        raise ValueError(f"{len(value)} bytes, not one size-prefixed FlatBuffer")
    if not Envelope.EnvelopeBufferHasIdentifier(value, 0, size_prefixed=True):
        raise ValueError("file identifier is not KTEV")
    return EnvelopeT.InitFromObj(Envelope.GetRootAs(value, 4))


class EpochFence:
    """Which events of one partition count (docs/events.md, "Writer epochs").

    Fed the partition's records in offset order. Starting at offset 0 the epoch is 0;
    starting mid-partition (no --from-beginning) it takes the writer_epoch of the first
    record that carries one.
    KeysUsed counts whatever its epoch: every node writes the uses it saw.
    """

    def __init__(self):
        self.epoch = None      # unknown until the first record that may set it
        self.from_zero = None  # whether the first record seen was at offset 0

    def admit(self, offset: int, event: EnvelopeT) -> bool:
        if self.from_zero is None:
            self.from_zero = offset == 0
        if event.payloadType == Payload.KeysUsed:
            return True
        claim = event.payload if event.payloadType == Payload.WriterClaimed else None
        if self.epoch is None:
            self.epoch = 0 if self.from_zero else event.writerEpoch - (1 if claim else 0)
        if claim is not None:
            if claim.epoch == self.epoch + 1 and event.writerEpoch == claim.epoch:
                self.epoch = claim.epoch
                return True
            return False
        return event.writerEpoch == self.epoch


def check_schema(message, event: EnvelopeT, shown: dict):
    """Refuses events newer than this code; checks ce_dataschema against the envelope."""
    if event.schemaVersion > KNOWN_SCHEMA_VERSION:
        raise StopReading(f"schema_version {event.schemaVersion} is newer than this consumer "
                          f"knows ({KNOWN_SCHEMA_VERSION}): regenerate from the new events.fbs "
                          "and read docs/events.md")
    headers = dict(message.headers() or [])
    dataschema = headers.get("ce_dataschema")
    if dataschema is None:  # keytrail before ce_dataschema: the envelope alone says it
        return
    dataschema = dataschema.decode()
    if dataschema != f"{DATASCHEMA_PREFIX}{event.schemaVersion}":
        raise StopReading(f"ce_dataschema {dataschema} disagrees with the envelope's "
                          f"schema_version {event.schemaVersion}")
    if shown.get("dataschema") != dataschema:
        shown["dataschema"] = dataschema
        print(f"consume_events: records follow {dataschema}", file=sys.stderr)


def event_line(event: EnvelopeT, ce_type: str = None) -> str:
    """The line of one event; its type is named by ce_type, else by the payload type."""
    if ce_type is not None:
        kind = ce_type.removeprefix("io.keytrail.").removesuffix(".v1")
    else:
        kind = PAYLOAD_NAMES.get(event.payloadType, f"payload-{event.payloadType}")
    parts = [format_time(event.occurredAtUs), event.org.decode(), kind]
    if event.payload is None:
        parts.append(f"unknown_payload_type={event.payloadType}")
    else:
        parts += format_fields(event.payload)
    parts.append(format_actor(event.actor))
    return " ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topic", default="keytrail.events")
    parser.add_argument("--from-beginning", action="store_true",
                        help="read every partition from its first record (default: new ones)")
    parser.add_argument("--org", help="only this org's events (reads only its partition)")
    parser.add_argument("--max-events", type=int, default=0, help="stop after N lines (0: never)")
    parser.add_argument("--timeout", type=float, default=0,
                        help="stop after S seconds without a new record (0: never)")
    parser.add_argument("--internal", action="store_true",
                        help="also print keytrail's own WriterClaimed records")
    args = parser.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        # Partitions are assigned explicitly below; the group id is required but unused.
        "group.id": "keytrail-example-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "log_level": 3,
    })
    try:
        # All topics: asking for one by name may create it on brokers that auto-create.
        topic = consumer.list_topics(timeout=10).topics.get(args.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            print(f"consume_events: topic {args.topic} not found", file=sys.stderr)
            return 1
        partitions = sorted(topic.partitions)
        if args.org:
            partitions = [(murmur2(args.org.encode()) & 0x7FFFFFFF) % len(partitions)]
        start = OFFSET_BEGINNING if args.from_beginning else OFFSET_END
        consumer.assign([TopicPartition(args.topic, p, start) for p in partitions])

        fences = {p: EpochFence() for p in partitions}
        shown = {}
        printed = 0
        last_record = time.monotonic()
        while not args.max_events or printed < args.max_events:
            message = consumer.poll(0.2)
            if message is None:
                if args.timeout and time.monotonic() - last_record > args.timeout:
                    break
                continue
            if message.error():
                raise StopReading(f"kafka: {message.error()}")
            last_record = time.monotonic()
            where = f"partition {message.partition()} offset {message.offset()}"
            try:
                event = decode(message.value() or b"")
            except Exception as e:  # the runtime raises anything on a damaged buffer
                raise StopReading(f"{where}: not a keytrail event: {e}") from e
            check_schema(message, event, shown)
            # The fence sees every record of the partition, other orgs' and claims too.
            if not fences[message.partition()].admit(message.offset(), event):
                print(f"consume_events: {where}: fenced (writer_epoch {event.writerEpoch}), "
                      "skipped", file=sys.stderr)
                continue
            if event.payloadType == Payload.WriterClaimed and not args.internal:
                continue
            if args.org and (message.key() or b"").decode() != args.org:
                continue
            ce_type = dict(message.headers() or []).get("ce_type")
            print(event_line(event, ce_type.decode() if ce_type else None), flush=True)
            printed += 1
    except (StopReading, KafkaException) as e:
        print(f"consume_events: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
