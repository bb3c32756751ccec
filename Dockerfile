# The nbpipe image: one static binary, no git CLI needed (go-git does the
# git work). `nbpipe serve` by default; the container action runs `nbpipe action`.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/nbpipe ./cmd/nbpipe

# Root, as GitHub requires of container actions; run the server with
# --user (or runAsUser) and a writable state_dir.
FROM gcr.io/distroless/static-debian12
COPY --from=build /out/nbpipe /usr/local/bin/nbpipe
ENTRYPOINT ["/usr/local/bin/nbpipe"]
CMD ["serve", "--config", "/etc/nbpipe/nbpipe.yaml"]
