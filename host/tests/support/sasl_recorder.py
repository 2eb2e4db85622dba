"""A TLS endpoint that records every byte a Kafka client sends it, for the test that no
SASL password leaves over a connection whose certificate was not fully checked.

It speaks just enough Kafka for a client about to log in to do so: ApiVersions (first
refusing a newer version, as brokers do, then the v0 answer), SaslHandshake offering
PLAIN. Anything else is recorded and left unanswered. A real broker would refuse the
mechanisms librdkafka offers here (tansu does), which would hide a leak.

usage: sasl_recorder.py PORT CERT KEY RECORD_FILE
"""
import socket
import ssl
import struct
import sys
import threading

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE, METADATA = 18, 17, 36, 3
SUPPORTED = [(API_VERSIONS, 0, 0), (SASL_HANDSHAKE, 0, 1), (SASL_AUTHENTICATE, 0, 0), (METADATA, 0, 1)]

record_lock = threading.Lock()


def answer(correlation_id, body):
    payload = struct.pack(">i", correlation_id) + body
    return struct.pack(">i", len(payload)) + payload


def api_versions(error):
    entries = b"".join(struct.pack(">hhh", *entry) for entry in SUPPORTED)
    return struct.pack(">hi", error, len(SUPPORTED)) + entries


def sasl_handshake():
    mechanism = b"PLAIN"
    return struct.pack(">hih", 0, 1, len(mechanism)) + mechanism


def serve(connection, record):
    buffered = b""
    try:
        while data := connection.recv(65536):
            with record_lock, open(record, "ab") as out:
                out.write(data)
            buffered += data
            while len(buffered) >= 4:
                size = struct.unpack(">i", buffered[:4])[0]
                if len(buffered) < 4 + size:
                    break
                request, buffered = buffered[4 : 4 + size], buffered[4 + size :]
                key, version, correlation_id = struct.unpack(">hhi", request[:8])
                if key == API_VERSIONS:
                    connection.sendall(answer(correlation_id, api_versions(35 if version > 0 else 0)))
                elif key == SASL_HANDSHAKE:
                    connection.sendall(answer(correlation_id, sasl_handshake()))
    except (OSError, ssl.SSLError):
        pass
    finally:
        connection.close()


def main():
    port, cert, key, record = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        raw, _ = listener.accept()
        try:
            connection = context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        threading.Thread(target=serve, args=(connection, record), daemon=True).start()


main()
