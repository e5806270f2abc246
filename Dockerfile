# syntax=docker/dockerfile:1.7
#
# Both images from one workspace build context. Build with `docker buildx bake`
# (docker-bake.hcl) or one target at a time:
#   docker build --target node     -t tinyredis:0.1.0 .
#   docker build --target operator -t tinyredis-operator:0.1.0 .
#
# Runtime images are distroless (glibc + CA certificates, no shell), run as the
# numeric user 10001 (the operator's pods set runAsNonRoot and fsGroup 10001),
# write nothing to the root filesystem, and exec the binary directly as PID 1:
# both binaries handle SIGTERM themselves, so no init process is needed.

ARG RUST_VERSION=1.95
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM rust:${RUST_VERSION}-slim-bookworm AS source
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY node ./node
COPY operator ./operator

# One builder per package; cache mounts keep the registry and target dir
# between builds, so the binary is copied out in the same step.
FROM source AS build-node
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=tinyredis-target \
    cargo build --release --locked -p tinyredis --bin tinyredis \
 && install -D -m 0755 target/release/tinyredis /out/tinyredis

FROM source AS build-operator
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=tinyredis-target \
    cargo build --release --locked -p tinyredis-operator --bin tinyredis-operator \
 && install -D -m 0755 target/release/tinyredis-operator /out/tinyredis-operator

# An empty /data owned by 10001, for `docker run` without a volume; in
# Kubernetes the PVC is mounted there.
FROM source AS data-dir
RUN mkdir -p /out/data && chown 10001:10001 /out/data

FROM ${RUNTIME_IMAGE} AS node
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tinyredis" \
      org.opencontainers.image.description="Redis-compatible, Raft-replicated in-memory data store (data node and proxy)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/tinyredis"
COPY --from=build-node /out/tinyredis /usr/local/bin/tinyredis
COPY --from=data-dir --chown=10001:10001 /out/data /data
USER 10001:10001
WORKDIR /data
EXPOSE 6379 7000 17000
ENTRYPOINT ["/usr/local/bin/tinyredis"]
CMD ["node", "--standalone", "--host", "0.0.0.0"]

FROM ${RUNTIME_IMAGE} AS operator
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tinyredis-operator" \
      org.opencontainers.image.description="Kubernetes operator for tinyredis clusters" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/tinyredis"
COPY --from=build-operator /out/tinyredis-operator /usr/local/bin/tinyredis-operator
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tinyredis-operator"]
CMD ["run"]
