"""Confluent's own serializers, for weir's tests (confluent-kafka, pinned in
.ci/confluent-kafka-requirements.txt): records written by AvroSerializer/JSONSerializer,
weir's output read back by AvroDeserializer/JSONDeserializer.

    confluent_serde.py produce avro|json BROKERS REGISTRY TOPIC SCHEMA_FILE < records.jsonl
    confluent_serde.py consume avro|json BROKERS REGISTRY TOPIC COUNT [SCHEMA_FILE]

produce: each stdin line {"key": "...", "value": {...}} is serialized with the schema
(looked up in the registry, never registered here) and produced; exits once all are acked.
consume: reads TOPIC from the beginning until COUNT records (60 s at most), printing
{"key", "value", "schema_id"} per record, or {"key", "error"} for one the deserializer refuses.
"""

import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

LOOKUP_ONLY = {"auto.register.schemas": False, "use.latest.version": False}


def produce(kind, brokers, registry, topic, schema_file):
    client = SchemaRegistryClient({"url": registry})
    schema = open(schema_file).read()
    if kind == "avro":
        serialize = AvroSerializer(client, schema, conf=LOOKUP_ONLY)
    else:
        serialize = JSONSerializer(schema, client, conf=LOOKUP_ONLY)
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    failures = []

    def acked(err, _msg):
        if err is not None:
            failures.append(str(err))

    for line in sys.stdin:
        record = json.loads(line)
        value = serialize(record["value"], SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=record["key"].encode(), value=value, on_delivery=acked)
        producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        sys.exit(f"{left} records not acknowledged; failures: {failures}")


def consume(kind, brokers, registry, topic, count, schema_file=None):
    client = SchemaRegistryClient({"url": registry})
    schema = open(schema_file).read() if schema_file else None
    if kind == "avro":
        deserialize = AvroDeserializer(client, schema)
    else:
        deserialize = JSONDeserializer(schema, schema_registry_client=client)
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "confluent-serde-test", "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    seen, deadline = 0, time.time() + 60
    while seen < count and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        seen += 1
        key = msg.key().decode() if msg.key() else None
        try:
            value = deserialize(msg.value(), SerializationContext(topic, MessageField.VALUE))
            schema_id = int.from_bytes(msg.value()[1:5], "big")
            print(json.dumps({"key": key, "value": value, "schema_id": schema_id}), flush=True)
        except Exception as e:  # the test wants every refusal, whatever its class
            print(json.dumps({"key": key, "error": f"{type(e).__name__}: {e}"}), flush=True)
    consumer.close()
    if seen < count:
        sys.exit(f"read {seen} of {count} records from {topic} within 60 s")


if __name__ == "__main__":
    command, kind, *rest = sys.argv[1:]
    if command == "produce":
        produce(kind, *rest)
    else:
        consume(kind, rest[0], rest[1], rest[2], int(rest[3]), *rest[4:])
