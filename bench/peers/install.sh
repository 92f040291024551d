#!/bin/sh
# bench/peers/install.sh: installs Prosody, ejabberd and dnsmasq from Debian for side-by-side
# benchmarks and makes sure neither server runs as a system service (the harness starts its own
# instances on loopback).
set -eu

# dnsmasq-base: the s2s scenario's resolver (SRV records for the two federated instances).
# lua-unbound: without it Prosody ignores its `unbound` setting (our dnsmasq) and resolves through
# /etc/resolv.conf, so its two federated instances never find each other (benchlib checks it).
PKGS="prosody lua-event lua-unbound ejabberd dnsmasq-base"
need=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done

if [ -n "$need" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install.sh: needs root to install:$need" >&2
        exit 1
    fi
    # Keep maintainer scripts from starting the services: a policy-rc.d that refuses every
    # start, restored afterwards (Docker images often ship one already).
    saved=""
    if [ -e /usr/sbin/policy-rc.d ]; then
        saved=$(mktemp)
        cp -p /usr/sbin/policy-rc.d "$saved"
    fi
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'if [ -n "$saved" ]; then mv "$saved" /usr/sbin/policy-rc.d; else rm -f /usr/sbin/policy-rc.d; fi' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends $need
fi

# Stop and disable the system services if they are running anyway. Without systemd, only when a
# process of the service's user exists: `service ejabberd stop` runs ejabberdctl, which would
# leave a system-wide epmd daemon behind.
for svc in prosody ejabberd; do
    if [ -d /run/systemd/system ]; then
        systemctl stop "$svc" 2>/dev/null || true
        systemctl disable "$svc" 2>/dev/null || true
    elif command -v service >/dev/null 2>&1 && pgrep -u "$svc" >/dev/null 2>&1; then
        service "$svc" stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
done

echo "prosody: $(dpkg-query -W -f='${Version}' prosody)"
echo "ejabberd: $(dpkg-query -W -f='${Version}' ejabberd)"
