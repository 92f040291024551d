#!/bin/sh
# bench/peers/cert.sh DIR DOMAIN...: one test certificate (EC P-256) for the domains, shared by all
# servers: DIR/bench.crt, DIR/bench.key and DIR/bench.pem (both, for ejabberd).
set -eu
dir=$1
shift
mkdir -p "$dir"
[ -s "$dir/bench.pem" ] && exit 0
san=""
for d in "$@"; do
    san="${san:+$san,}DNS:$d,DNS:*.$d"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=$1" -addext "subjectAltName=$san" \
    -keyout "$dir/bench.key" -out "$dir/bench.crt" 2>/dev/null
cat "$dir/bench.crt" "$dir/bench.key" >"$dir/bench.pem"
chmod 644 "$dir/bench.key" "$dir/bench.pem"
