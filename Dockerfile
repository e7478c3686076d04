# purgebus: the consumer (entrypoint) and the purge CLI, static binaries on
# an empty base. Build with deploy/image.sh, or:
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg COMMIT=$(git rev-parse HEAD) -t purgebus .
#
# Run (docs/operating.md has more):
#
#   docker run --rm -v purgebus-data:/data -p 9464:9464 purgebus --sandbox

# The Go toolchain of the build stage; go.mod asks for Go 1.26.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer is reused while only the sources change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Static, reproducible binaries with the version stamped (internal/version)
# and the time-zone database embedded (timetzdata): TZ and time.LoadLocation
# work on the empty base, where no /usr/share/zoneinfo exists.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags timetzdata \
      -ldflags "-s -w -X github.com/purgebus/purgebus/internal/version.version=${VERSION} -X github.com/purgebus/purgebus/internal/version.commit=${COMMIT}" \
      -o /out/bin/ ./cmd/consumer ./cmd/purge \
 && mkdir -p /out/data /out/etc \
 && echo 'purgebus:x:65532:65532:purgebus:/data:/sbin/nologin' > /out/etc/passwd \
 && echo 'purgebus:x:65532:' > /out/etc/group

FROM scratch
# Fast Purge is HTTPS: the CAs that verify Akamai.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/bin/consumer /out/bin/purge /usr/local/bin/
ENV PATH=/usr/local/bin \
    PURGEBUS_DATA_DIR=/data \
    PURGEBUS_HTTP_ADDR=0.0.0.0:9464
USER 65532:65532
WORKDIR /data
# The embedded NATS server's JetStream store (--data-dir): events waiting
# there survive restarts when it is a persistent volume.
VOLUME /data
# /metrics, /healthz and /readyz (--http-addr). The embedded NATS server
# listens on the pod's loopback (127.0.0.1:4222), for a CMS beside it.
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/consumer"]
