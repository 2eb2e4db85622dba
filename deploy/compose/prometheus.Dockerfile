# Prometheus for CI's compose run (prom/prometheus cannot be pulled there): Debian's
# package's binary, unpacked by the tests into target/prometheus. Built by .ci/compose-e2e.
FROM debian:bookworm-slim
COPY prometheus /usr/local/bin/prometheus
RUN mkdir -p /prometheus && chown nobody /prometheus
USER nobody
ENTRYPOINT ["prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
