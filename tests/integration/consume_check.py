#!/usr/bin/python3
"""Reads a whole keytrail topic with confluent-kafka, an independent Kafka client.

Prints one JSON object per record: key, partition, offset, headers (name -> value),
value_hex, and java_partition (where Kafka's Java default partitioner, murmur2 of the
key, would place it), so kafka_event_log_test.cc can check that another real client
understands keytrail's records. Exits 2 if the end of every partition is not reached
within --timeout seconds.

Usage: consume_check.py --bootstrap HOST:PORT[,...] --topic TOPIC [--timeout S]
"""

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def murmur2(data: bytes) -> int:
    """org.apache.kafka.common.utils.Utils.murmur2, written independently of keytrail."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = data[length - length % 4:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "consume-check-" + uuid.uuid4().hex,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "log_level": 3,
    })
    metadata = consumer.list_topics(args.topic, timeout=args.timeout)
    topic = metadata.topics.get(args.topic)
    if topic is None or topic.error is not None or not topic.partitions:
        print(f"topic {args.topic} not found", file=sys.stderr)
        return 2
    partition_count = len(topic.partitions)
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING)
                     for p in sorted(topic.partitions)])

    pending = set(topic.partitions)
    deadline = time.monotonic() + args.timeout
    while pending and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                pending.discard(message.partition())
                continue
            print(f"consumer error: {message.error()}", file=sys.stderr)
            return 2
        key = message.key() or b""
        print(json.dumps({
            "key": key.decode("utf-8"),
            "partition": message.partition(),
            "offset": message.offset(),
            "headers": {name: value.decode("utf-8")
                        for name, value in (message.headers() or [])},
            "value_hex": (message.value() or b"").hex(),
            "java_partition": (murmur2(key) & 0x7FFFFFFF) % partition_count,
        }))
    consumer.close()
    if pending:
        print(f"partitions {sorted(pending)} not read to the end in time", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
