# One multi-stage image recipe for every binary in the workspace, built from the workspace root so
# the single `proto` crate is shared (no .proto files copied into per-service contexts):
#   docker build --build-arg BIN=users-service -t shop/users-service .
# protox compiles the protos in-process, so the build needs no protoc.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
ARG BIN
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    test -n "${BIN}" || { echo "build with --build-arg BIN=<binary>" >&2; exit 1; } \
    && cargo build --locked --release --bin "${BIN}" \
    && cp "target/release/${BIN}" /usr/local/bin/app

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /usr/local/bin/app /usr/local/bin/app
USER app
ENTRYPOINT ["/usr/local/bin/app"]
