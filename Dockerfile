# syntax=docker/dockerfile:1
#
# confighash container image: `docker build -t confighash .` (BuildKit is required for the
# cache mounts below; it is the default builder of Docker 23+ and Podman/Buildah).

# ---- build ---------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Only what the build needs; .dockerignore keeps target/, .git and the rest out.
COPY Cargo.toml Cargo.lock ./
COPY src ./src

# Cache mounts keep the crates.io downloads and the compiled dependencies between builds,
# so a source change recompiles only this crate. The target directory lives in the cache,
# so the binary is copied out in the same step. The build command is exactly the one CI
# runs (.ci/run), so the image contains what CI tested.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
 && cp target/release/confighash /confighash

# ---- runtime -------------------------------------------------------------------------
# A glibc build on a distroless "cc" base rather than a static musl build on
# distroless/static:
#  - ring (the TLS crypto of rustls and kube) compiles C and assembly and links against
#    the C library, and the glibc build from `cargo build --release --locked` is the one
#    CI builds and tests; a musl target would be a second, untested build;
#  - distroless/cc-debian12 adds to distroless/static only the C runtime such a binary
#    needs (glibc, libgcc_s; also libssl and libstdc++, unused here): no shell, no
#    package manager, nothing to exec into;
#  - bookworm (the builder) and debian12 (the runtime) share glibc 2.36, so the binary
#    links against exactly the glibc it runs with.
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="confighash" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook that rolls workloads when the ConfigMaps they consume change" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /confighash /confighash

# Numeric, so that Kubernetes can enforce runAsNonRoot without reading /etc/passwd.
USER 65532:65532

# 8443: HTTPS webhook (--listen); 9090: /metrics, /healthz, /readyz (--metrics-listen).
EXPOSE 8443 9090

ENTRYPOINT ["/confighash", "serve"]
