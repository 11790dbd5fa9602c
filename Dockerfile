# syntax=docker/dockerfile:1
# Portcullis container image, built from source where base images can be pulled:
#   docker build -t portcullis .        (or: podman build -t portcullis .)
#   docker run -p 8080:8080 -p 9902:9902 -v $PWD/portcullis.toml:/etc/portcullis/portcullis.toml:ro portcullis
# The same layout is made from a locally built binary, without pulling anything, by
# deploy/container/make-context and Containerfile.scratch (what deploy/test-image runs).

FROM docker.io/library/rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox-static \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
 && strip target/release/portcullis \
 && mkdir -p /out/state

# glibc, libgcc and the CA bundle, a non-root user (65532), nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
# busybox only for the HEALTHCHECK's wget (the runtime image has no shell or HTTP client).
COPY --from=build /bin/busybox /usr/local/bin/busybox
COPY deploy/container/portcullis.toml /etc/portcullis/portcullis.toml
COPY --from=build --chown=65532:65532 /out/state/ /var/lib/portcullis/
USER 65532:65532
WORKDIR /var/lib/portcullis
# 8080 traffic, 9901 admin API (loopback unless given a token), 9902 probes without a token.
EXPOSE 8080 9901 9902
# SIGTERM: stop accepting, drain in-flight requests for [server] shutdown_grace, exit 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9902/readyz"]
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["run", "--config", "/etc/portcullis/portcullis.toml"]
