# syntax=docker/dockerfile:1
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t rootwatch .
#
# Base images are exact versions: the Go toolchain of go.mod's go directive (a test keeps them
# equal) and the distroless static image's nonroot tag. A release pins both by digest
# (FROM image:tag@sha256:...) and Renovate (renovate.json) keeps tags and digests current:
# see deploy/docs/deploy.md, "Base images".
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rootwatch ./cmd/rootwatch \
 && /out/rootwatch version \
 && /out/rootwatch rules test detector/rules/builtin

# Static binary on distroless: no shell, no package manager, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rootwatch /usr/local/bin/rootwatch
USER nonroot:nonroot
EXPOSE 9090
# ECS sends SIGTERM then SIGKILL after stopTimeout; rootwatch drains within ROOTWATCH_SHUTDOWN_TIMEOUT.
STOPSIGNAL SIGTERM
# `rootwatch healthcheck` checks /readyz: unhealthy when the queue cannot be read (ROOTWATCH_STALL_AFTER).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD ["/usr/local/bin/rootwatch", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/rootwatch"]
CMD ["run"]
