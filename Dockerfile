# syntax=docker/dockerfile:1
#
# chatbus as a container image: one static binary (no cgo; the SQLite driver
# is pure Go/WebAssembly) on distroless, run as a non-root user.
#
#   docker build -t chatbus .            # or: make image
#   docker run --rm chatbus --help
#
# The whole system in one container (embedded broker, SQLite in /data):
#   docker run -p 8080:8080 -v chatbus-data:/data chatbus run --http-addr 0.0.0.0:8080
# A cluster: deploy/compose.yaml and docs/deploy.md.

# The Go version follows go.mod's (cmd/chatbus/deploy_test.go checks it).
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a change of the code alone reuses this layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/chatbus ./cmd/chatbus
# The data directory of `chatbus run` and `chatbus broker`, owned by the
# user the image runs as (distroless' nonroot, 65532).
RUN mkdir -p /out/data

# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot; no
# shell and no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chatbus /chatbus
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV CHATBUS_DATA_DIR=/data
# Mount a volume on /data to keep it: -v chatbus-data:/data
# 8080: web gateway (give --http-addr 0.0.0.0:8080); 9092: embedded broker;
# 9464: --ops-addr (/metrics, /healthz, /readyz). All listen on loopback
# unless told otherwise.
EXPOSE 8080 9092 9464
# No HEALTHCHECK: the image has no shell or curl. Probe /readyz from outside
# (the orchestrator, the proxy, Prometheus); see docs/deploy.md.
ENTRYPOINT ["/chatbus"]
CMD ["--help"]
