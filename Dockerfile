# portcullis in a container: `cargo build --release --locked && docker build -t portcullis .`
#
# The binary is built on the host (or in CI) and copied in, so the build needs no network.
# The default base is distroless: glibc, CA certificates for registries, no shell, no
# package manager, and the `nonroot` user (65532). `--build-arg BASE=IMAGE` picks another
# glibc base (the tests use a bookworm minbase); `--build-arg BIN=PATH` another binary.
ARG BASE=gcr.io/distroless/cc-debian12:nonroot
FROM ${BASE}
ARG BIN=target/release/portcullis
COPY ${BIN} /usr/local/bin/portcullis
# The layer cache and the vulnerability database go under $HOME/.cache; mount a volume there
# (or at XDG_CACHE_HOME) to keep them between runs.
ENV HOME=/home/nonroot XDG_CACHE_HOME=/home/nonroot/.cache
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["--help"]
LABEL org.opencontainers.image.title="portcullis" \
      org.opencontainers.image.description="Container image hardening gate"
