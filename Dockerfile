# delay-echo's image: one static binary in an empty (scratch) image, run as a numeric non-root
# user. It is what App Runner, ECS Express Mode and plain Docker run, so cold start is the
# binary's own start-up and nothing else.
#
# How the binary is compiled (profile, target, flags) lives in scripts/image/build-static.sh,
# which `make test` also runs on the same build context, and hands to this Dockerfile in
# place of the builder stage when the base image cannot be pulled (`make buildc`, offline
# path: scripts/image/container.sh): change the build there, not here.
#
# Base image: pinned by version. It is not pinned by digest because the digest could not be
# read where this file was written (no registry access there); Dependabot (docker ecosystem)
# proposes the digest-pinned update. The final stage is `scratch`, which has no digest.
# Fully qualified (docker.io/library/...), which Docker reads as `rust:...` and Podman needs:
# Debian's Podman resolves no short names (no unqualified-search registries).

FROM docker.io/library/rust:1.95.0-slim-bookworm AS chef
# cargo-chef splits the build so the dependencies get a layer of their own, keyed on the
# manifests only: editing src/ rebuilds the crate, not its ~100 dependencies. A layer (rather
# than a BuildKit cache mount) is what the GitHub Actions cache can store between runs.
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}" \
    && rm -rf "${CARGO_HOME}/registry" "${CARGO_HOME}/git"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --bin delay-echo --recipe-path recipe.json

FROM chef AS builder
# The dependency layer must see the same cargo configuration (--cfg tokio_unstable) as the
# final build, or cargo would rebuild tokio and everything above it.
COPY .cargo/config.toml .cargo/config.toml
COPY scripts/image/build-static.sh scripts/image/build-static.sh
COPY --from=planner /src/recipe.json recipe.json
RUN scripts/image/build-static.sh deps recipe.json
COPY . .
RUN scripts/image/build-static.sh build /out/delay-echo

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="delay-echo" \
      org.opencontainers.image.description="An HTTP target with a controllable delay, for measuring how autoscaling platforms react to spiky load" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
COPY --from=builder /out/delay-echo /delay-echo
# 65532 is the distroless `nonroot` user; a number, because scratch has no /etc/passwd to
# resolve a name, and a number lets Kubernetes' runAsNonRoot verify it.
USER 65532:65532
EXPOSE 8080
# The service drains on SIGTERM (unready, finish in-flight requests, exit 0). It is PID 1 here
# (exec-form ENTRYPOINT, no init), so it handles the signal itself rather than relying on
# the kernel's default action.
STOPSIGNAL SIGTERM
# No shell and no curl in scratch: the binary probes its own /readyz (port from PORT or
# DELAY_ECHO_LISTEN, as the server reads them). Platforms use their own checks instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/delay-echo", "healthcheck"]
ENTRYPOINT ["/delay-echo"]
