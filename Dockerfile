# weir: the host and its plugins in one slim image.
#   docker build -t weir .
# Plugins live in /opt/weir/target/plugins; mount another .wasm over one (or a
# directory over all) to swap a plugin without rebuilding the image.

# Where /opt/weir comes from: `build` (the default) compiles it here from source;
# `prebuilt` takes ./dist as laid out by `.ci/build-dist dist`, for machines that have the
# binaries but not the rust image (CI does this). The runtime stage below is the same
# either way. With BuildKit, only the stage chosen is built:
#   .ci/build-dist dist && DOCKER_BUILDKIT=1 docker build --build-arg DIST=prebuilt -t weir .
ARG DIST=build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN .ci/build-dist /dist

FROM scratch AS prebuilt
COPY dist /dist

FROM ${DIST} AS dist

FROM debian:bookworm-slim
# TLS to Kafka and the schema registry: OpenSSL and the system CAs (managed clusters).
# The compile cache holds native code: only weir may write it (weir refuses it otherwise).
# One layer, apt's caches gone: storage drivers that copy each layer whole (vfs) pay per layer.
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --system --home /opt/weir weir \
    && mkdir -p -m 700 /var/cache/weir && chown weir /var/cache/weir \
    && ln -s /opt/weir/weir /usr/local/bin/weir
COPY --from=dist /dist /opt/weir
ENV WEIR_CACHE_DIR=/var/cache/weir
USER weir
WORKDIR /opt/weir
ENTRYPOINT ["weir"]
CMD ["run", "--config", "/opt/weir/weir.toml"]
