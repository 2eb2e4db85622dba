# weir: the host and its plugins in one slim image.
#   docker build -t weir .
# Plugins live in /opt/weir/target/plugins; mount another .wasm over one (or a
# directory over all) to swap a plugin without rebuilding the image.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN .ci/build-dist /dist

FROM debian:bookworm-slim
# TLS to Kafka and the schema registry: OpenSSL and the system CAs (managed clusters).
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /opt/weir weir
COPY --from=build /dist /opt/weir
ENV WEIR_CACHE_DIR=/var/cache/weir
# The compile cache holds native code: only weir may write it (weir refuses it otherwise).
RUN mkdir -p -m 700 /var/cache/weir && chown weir /var/cache/weir && ln -s /opt/weir/weir /usr/local/bin/weir
USER weir
WORKDIR /opt/weir
ENTRYPOINT ["weir"]
CMD ["run", "--config", "/opt/weir/weir.toml"]
