#!/bin/sh
# bench/compare.sh SCENARIO [options]: the scenario against Starling, Prosody and ejabberd, one
# server at a time, >= 3 runs each; prints one table and writes bench/results/<date>-<scenario>.md
# (and .json with the medians). Scenarios: login login-resume login-fast login-fast-resume
# login-direct login-plain login-tcp idle msg msg-archive presence muc s2s, or `all`: login
# login-resume login-fast msg idle presence muc s2s, then msg at half of Starling's peak rate
# (latency at equal load), then Starling's msg with 1 worker and with 2 (scaling).
# Run `bench/compare.sh --help` for the size options; bench/peers/install.sh installs the peers.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# Every package install.sh wants, not only the servers' commands: a Prosody without lua-unbound
# starts but cannot find its federated twin (s2s).
for p in prosody lua-event lua-unbound ejabberd dnsmasq-base; do
    dpkg -s "$p" >/dev/null 2>&1 || { "$here/peers/install.sh"; break; }
done
compare() { /usr/bin/python3 "$here/compare.py" "$@"; }
[ "${1:-}" = all ] || exec /usr/bin/python3 "$here/compare.py" "$@"
shift
for s in login login-resume login-fast msg idle presence muc s2s; do
    compare "$s" "$@"
done
peak=$(/usr/bin/python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["medians"].get("Starling") or {}
print(int((m.get("delivered_per_s") or 0) / 2))' "$here/results/$(date +%F)-msg.json")
if [ "$peak" -gt 0 ]; then
    compare msg "$@" --rate "$peak" --tag msg-half-peak
fi
# Scaling: the load generator keeps CPU 1; Starling gets CPU 0 with one worker, both CPUs with
# two (on a 2-CPU machine the second worker shares its CPU with the load generator).
ncpu=$(nproc)
lg=$((ncpu - 1))
compare msg "$@" --servers starling --workers 1 --server-cpus 0 --loadgen-cpus "$lg" \
    --tag msg-1-worker
compare msg "$@" --servers starling --workers 2 --server-cpus "0-$lg" --loadgen-cpus "$lg" \
    --tag msg-2-workers
