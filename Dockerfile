# camunda-waitroom worker: a static binary on a small non-root base.
# Build: docker build -t camunda-waitroom .
# Run:   docker run -e DB_HOST=... -e DB_NAME=... -e DB_USER=... -e DB_PASSWORD=... \
#          -e WAITROOM_CAMUNDA_URL=http://camunda:8080/engine-rest -p 8088:8088 camunda-waitroom
# Configuration comes from the environment (see README.md); the shipped config.yaml is built in.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/camunda-waitroom/camunda-waitroom/internal/app.Version=${VERSION}" \
      -o /out/worker ./cmd/worker \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /usr/local/bin/worker
# The SQLite default store writes ./waitroom.db: give the non-root user a writable directory.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
USER 65532:65532
EXPOSE 8088
ENTRYPOINT ["/usr/local/bin/worker"]
CMD ["run"]
