# Sourced by scripts/test.sh and bench/run.sh: starts the services the remote transports
# are tested and measured against, and stops them when the sourcing script exits.
#
#   start_services       a dockerd on a private socket (root only) and two docker-registry
#                        instances on free loopback ports, one open and one with htpasswd
#                        auth; exports PORTCULLIS_TEST_DOCKER_HOST, PORTCULLIS_TEST_REGISTRY,
#                        PORTCULLIS_TEST_AUTH_REGISTRY, PORTCULLIS_TEST_REGISTRY_USER and
#                        PORTCULLIS_TEST_REGISTRY_PASSWORD for what started; and a third
#                        registry with token auth (start_token_registry).
#   start_dockerd        only the dockerd;  start_open_registry  only the open registry.
#   start_podman         Podman's Docker-compatible API service on a private socket (root
#                        only, vfs storage); exports PORTCULLIS_TEST_PODMAN_HOST and
#                        PORTCULLIS_TEST_PODMAN_ROOT (its storage, for `podman --root`).
#   start_token_registry a docker-registry with `auth: token` that trusts a fresh self-signed
#                        P-256 certificate. The token issuer its realm names is served by the
#                        tests themselves (tests/common/token_issuer.rs signs with the key);
#                        exports PORTCULLIS_TEST_TOKEN_REGISTRY, _REALM, _SERVICE, _ISSUER,
#                        _KEY and _CERT.
#   start_redis          Debian's redis-server on a free loopback port, no persistence, LRU
#                        eviction at 256 MB; exports PORTCULLIS_TEST_REDIS (a redis:// URL).
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

services_tmp() {
    [ -n "$services_dir" ] || services_dir=$(mktemp -d /tmp/portcullis-svc.XXXXXX)
}

start_dockerd() {
    services_tmp
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
}

start_podman() {
    services_tmp
    if [ "$(id -u)" -ne 0 ] || ! command -v podman >/dev/null; then
        echo "== NOTE: podman (as root) not available; the Podman socket tests will report SKIPPED"
        return 0
    fi
    local root="$services_dir/podman" host="unix://$services_dir/podman.sock"
    mkdir -p "$root"
    podman --root "$root/storage" --runroot "$root/run" --storage-driver vfs \
        system service --time=0 "$host" >"$services_dir/podman.log" 2>&1 &
    service_pids+=($!)
    if wait_for "podman system service" test -S "$services_dir/podman.sock"; then
        export PORTCULLIS_TEST_PODMAN_HOST="$host" PORTCULLIS_TEST_PODMAN_ROOT="$root"
        echo "== podman API service on $host"
    fi
}

start_open_registry() {
    services_tmp
    command -v docker-registry >/dev/null || return 0
    local open
    # Started in this shell (not in $(...)) so that its pid is recorded for the trap.
    start_registry open "" >"$services_dir/open.addr" && open=$(cat "$services_dir/open.addr") \
        && export PORTCULLIS_TEST_REGISTRY="$open" && echo "== docker-registry on $open"
}

start_services() {
    start_dockerd
    start_podman
    start_open_registry
    if command -v docker-registry >/dev/null && command -v htpasswd >/dev/null; then
        local auth user=portcullis password
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
    start_token_registry
    start_redis
}

start_redis() {
    services_tmp
    command -v redis-server >/dev/null || return 0
    local port
    port=$(free_port)
    mkdir -p "$services_dir/redis"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$services_dir/redis" --save "" \
        --appendonly no --maxmemory 256mb --maxmemory-policy allkeys-lru \
        >"$services_dir/redis.log" 2>&1 &
    service_pids+=($!)
    wait_for "redis-server" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || return 0
    export PORTCULLIS_TEST_REDIS="redis://127.0.0.1:$port/0"
    echo "== redis-server on 127.0.0.1:$port"
}

start_token_registry() {
    services_tmp
    command -v docker-registry >/dev/null && command -v openssl >/dev/null || return 0
    local keys="$services_dir/token-issuer" realm addr
    local service=portcullis-test-registry issuer=portcullis-test-token-issuer
    mkdir -p "$keys"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$issuer" -keyout "$keys/issuer.key" -out "$keys/issuer.crt" 2>/dev/null || {
        echo "== NOTE: openssl could not make the token issuer's key; the token tests will report SKIPPED"
        return 0
    }
    # Nothing listens here until a test serves the realm (one test process at a time).
    realm="http://127.0.0.1:$(free_port)/token"
    start_registry token "auth:
  token:
    realm: $realm
    service: $service
    issuer: $issuer
    rootcertbundle: $keys/issuer.crt" >"$services_dir/token.addr" && addr=$(cat "$services_dir/token.addr") && {
        export PORTCULLIS_TEST_TOKEN_REGISTRY="$addr" PORTCULLIS_TEST_TOKEN_REALM="$realm"
        export PORTCULLIS_TEST_TOKEN_SERVICE="$service" PORTCULLIS_TEST_TOKEN_ISSUER="$issuer"
        export PORTCULLIS_TEST_TOKEN_KEY="$keys/issuer.key" PORTCULLIS_TEST_TOKEN_CERT="$keys/issuer.crt"
        echo "== docker-registry with token auth on $addr (token realm $realm, served by the tests)"
    }
}

