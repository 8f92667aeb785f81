#!/usr/bin/env bash
# How the image's binary is built: profile, target and flags live here and nowhere else.
# The Dockerfile RUNs this script (for the cached dependency layer and for the binary) and
# `make image-binary` runs the same script on the same build context, so the binary that
# `make test` checks (and `make buildc`'s offline path puts in the image) cannot drift from the
# one the builder stage builds.
#
#   build-static.sh deps  RECIPE   build only the dependencies (cargo-chef), for layer caching
#   build-static.sh build OUT      build the binary and copy it to OUT
#
# Only the service's binary (--bin delay-echo): the crate's other binary, the lab's user-space
# link (delay-echo-link, loadtests/netlab), is neither built nor shipped here.
#
# Statically linked against glibc (crt-static) rather than musl: a musl target cannot be
# fetched on every machine that builds this, the gnu target is always there. An explicit
# --target keeps proc-macros (host) dynamic while the binary itself is static.
set -euo pipefail

readonly BIN=delay-echo
readonly PROFILE=release
# The host's own triple, so a build under emulation (PLATFORM=linux/arm64) stays native.
TARGET="${TARGET:-$(uname -m)-unknown-linux-gnu}"
readonly TARGET

# The flags go in the target-specific variable: cargo joins it with the project's
# `target.'cfg(all())'.rustflags` (.cargo/config.toml: --cfg tokio_unstable), whereas RUSTFLAGS
# would replace those. An inherited RUSTFLAGS (or its encoded twin) would override both and
# silently change the binary, so they go.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
# The getrandom backend a static binary needs is set for every build in .cargo/config.toml.
readonly STATIC_FLAGS='-C target-feature=+crt-static'
triple_var=$(tr 'a-z-' 'A-Z_' <<<"$TARGET")
export "CARGO_TARGET_${triple_var}_RUSTFLAGS=$STATIC_FLAGS"

usage() {
  echo "usage: $0 deps RECIPE | build OUT" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
mode=$1
arg=$2

case "$mode" in
  deps)
    [[ -f "$arg" ]] || { echo "build-static.sh: recipe '$arg' not found (cargo chef prepare writes it)" >&2; exit 2; }
    cargo chef cook --profile "$PROFILE" --target "$TARGET" --bin "$BIN" --recipe-path "$arg"
    ;;
  build)
    cargo build --locked --profile "$PROFILE" --target "$TARGET" --bin "$BIN"
    target_dir="${CARGO_TARGET_DIR:-target}"
    built="$target_dir/$TARGET/$PROFILE/$BIN"
    mkdir -p "$(dirname "$arg")"
    # Copy beside OUT, then rename over it: a plain cp fails ("Text file busy") while a test
    # runs the previous binary, and a rename also never leaves a half-written OUT.
    cp "$built" "$arg.tmp.$$"
    mv -f "$arg.tmp.$$" "$arg"
    echo "built $arg (profile $PROFILE, target $TARGET, flags '$STATIC_FLAGS' + .cargo/config.toml)"
    ;;
  *)
    echo "build-static.sh: unknown mode '$mode'; allowed: deps, build" >&2
    exit 2
    ;;
esac
