# The nbpipe image: one static binary (go-git does the git work, so no git
# CLI), the CA certificates to reach HTTPS forges, nothing else.
#
# Two images come from this file (docs/action-proposed.md):
#   docker build -t ghcr.io/nbpipe/nbpipe:v0.1.0 .                          # the server, non-root (default)
#   docker build --target action -t ghcr.io/nbpipe/nbpipe:v0.1.0-action .   # the container Action
# action.yml names the published action image (runs.image: docker://...), so
# a workflow pulls it instead of building this file on every run.
#
# It builds with the classic builder too (DOCKER_BUILDKIT=0: no RUN --mount,
# no heredocs). The base images are build arguments only so a mirror can be
# named; action/e2e_test.go builds this file with local stand-ins tagged with
# these exact default names.
ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/nbpipe ./cmd/nbpipe

# The base: distroless static has the CA bundle (/etc/ssl/certs), /etc/passwd
# with nonroot (65532), tzdata and /tmp; no shell.
FROM ${BASE_IMAGE} AS runtime
COPY --from=build /out/nbpipe /usr/local/bin/nbpipe
ENTRYPOINT ["/usr/local/bin/nbpipe"]

# The container Action runs as root: GitHub runs Docker actions as the
# image's user and documents that they must be root ("Do not use the USER
# instruction"), as the workspace and the file-command files (GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY) belong to the runner. It only runs for the length of
# a job, on the runner.
FROM runtime AS action
USER 0:0
CMD ["action"]

# The server (the default target): non-root, so it runs under restricted
# pod security as it is. Mount a writable state_dir for it.
FROM runtime AS server
USER 65532:65532
CMD ["serve", "--config", "/etc/nbpipe/nbpipe.yaml"]
