#!/bin/sh
# bench/compare.sh SCENARIO [options]: the scenario against Starling, Prosody and ejabberd, one
# server at a time, >= 3 runs each; prints one table and writes bench/results/<date>-<scenario>.md.
# Scenarios: login login-direct login-plain login-tcp idle msg presence muc s2s. Run
# `bench/compare.sh --help` for the size options; bench/peers/install.sh installs the peers.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
command -v prosody >/dev/null 2>&1 && command -v erl >/dev/null 2>&1 || "$here/peers/install.sh"
exec /usr/bin/python3 "$here/compare.py" "$@"
