# Bindery: one image, one binary; the command picks server or worker.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/bindery ./cmd/bindery
# The publishing and job files directories (config/bindery.yaml), owned by
# the user the image runs as, so a volume mounted there is writable.
RUN mkdir -p /out/bindery-files/publishing /out/bindery-files/job-files

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bindery /usr/local/bin/bindery
COPY config/bindery.yaml /etc/bindery/bindery.yaml
COPY --from=build --chown=65532:65532 /out/bindery-files /var/tmp/bindery
ENV BINDERY_CONFIG=/etc/bindery/bindery.yaml
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/bindery"]
CMD ["server"]
