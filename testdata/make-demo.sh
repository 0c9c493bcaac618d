#!/usr/bin/env bash
# Builds testdata/demo.tar: a small, reproducible `docker save`-style archive (classic layout)
# made only from files this script writes. It exists so that the README's first command has
# something real to scan. Re-run it after changing it; the output is committed.
#
# Layers:
#   0  a minimal root: /etc/passwd, /etc/group, /etc/shadow, /etc/os-release, /bin/app
#   1  an application config holding a (fake) cloud key, and a setuid copy of the app
#   2  deletes that config again: gone from the final filesystem, still in layer 1
set -euo pipefail
cd "$(dirname "$0")"
out="$PWD/demo.tar"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mtime="2024-01-01 00:00:00Z"
mklayer() { # dir -> layer.tar (reproducible: sorted names, fixed owner and mtime)
    (cd "$1" && tar --sort=name --mtime="$mtime" --owner=0 --group=0 --numeric-owner \
        --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -cf "$2" .)
}

l0="$work/l0"; mkdir -p "$l0/etc" "$l0/bin" "$l0/home/app"
cat > "$l0/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:10001:10001:app:/home/app:/usr/sbin/nologin
P
cat > "$l0/etc/group" <<'G'
root:x:0:
daemon:x:1:
app:x:10001:
G
cat > "$l0/etc/shadow" <<'S'
root:*:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
app:!:19700:0:99999:7:::
S
chmod 0640 "$l0/etc/shadow"
cat > "$l0/etc/os-release" <<'O'
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
O
printf '#!/bin/sh\necho hello from the demo app\n' > "$l0/bin/app"
chmod 0755 "$l0/bin/app"

l1="$work/l1"; mkdir -p "$l1/home/app" "$l1/usr/local/bin"
# A made-up key in the AWS format; it was never valid.
printf '[default]\naws_access_key_id = AKIA2E0A8F3B244C9986\naws_secret_access_key = 7Jm3vQd8kX0bRt5NwLz2Hc9YpF4sGu6EaVi1TqKo\n' \
    > "$l1/home/app/credentials"
printf '#!/bin/sh\nexec /bin/app "$@"\n' > "$l1/usr/local/bin/app-helper"
chmod 4755 "$l1/usr/local/bin/app-helper"

l2="$work/l2"; mkdir -p "$l2/home/app"
: > "$l2/home/app/.wh.credentials"

diff_ids=()
layer_paths=()
for i in 0 1 2; do
    mklayer "$work/l$i" "$work/layer$i.tar"
    sum=$(sha256sum "$work/layer$i.tar" | cut -d' ' -f1)
    mkdir -p "$work/img/$sum"
    mv "$work/layer$i.tar" "$work/img/$sum/layer.tar"
    diff_ids+=("\"sha256:$sum\"")
    layer_paths+=("\"$sum/layer.tar\"")
done
join() { local IFS=,; echo "$*"; }

config=$(cat <<C
{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/app"],"Labels":{"org.opencontainers.image.title":"portcullis demo"}},"rootfs":{"type":"layers","diff_ids":[$(join "${diff_ids[@]}")]},"history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD rootfs /"},{"created":"2024-01-01T00:00:00Z","created_by":"COPY credentials app-helper /"},{"created":"2024-01-01T00:00:00Z","created_by":"RUN rm /home/app/credentials"},{"created":"2024-01-01T00:00:00Z","created_by":"CMD [\"/bin/app\"]","empty_layer":true}]}
C
)
config_sum=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
printf '%s' "$config" > "$work/img/$config_sum.json"
printf '[{"Config":"%s.json","RepoTags":["portcullis/demo:1.0"],"Layers":[%s]}]' \
    "$config_sum" "$(join "${layer_paths[@]}")" > "$work/img/manifest.json"
printf '{"portcullis/demo":{"1.0":"%s"}}' "$(echo "${diff_ids[2]}" | tr -d '"' | cut -d: -f2)" \
    > "$work/img/repositories"
(cd "$work/img" && tar --sort=name --mtime="$mtime" --owner=0 --group=0 --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$out" .)
echo "wrote $out (config sha256:$config_sum)"
