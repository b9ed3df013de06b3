#!/usr/bin/env bash
# Install Ceph RADOS Gateway (Debian 12 packages) for the integration tests.
# Idempotent: exits at once when the binaries are already there. Needs root (CI runs as root).
#   scripts/install-rgw.sh           install what is missing (apt-get install ceph-mon ceph-osd radosgw ...)
#   scripts/install-rgw.sh --check   install nothing: exit 0 when installed, 1 when something is missing
# `npm test` (scripts/test.ts) runs it by itself when RGW is missing and it can (root and apt-get).
set -euo pipefail

need=(ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool uuidgen curl)
missing() { local c; for c in "${need[@]}"; do command -v "$c" >/dev/null 2>&1 || return 0; done; return 1; }

if [ "${1:-}" = "--check" ]; then
  if missing; then exit 1; else exit 0; fi
fi

if ! missing; then
  echo "install-rgw: ceph-mon, ceph-osd, radosgw, radosgw-admin already installed" >&2
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-rgw: error: must run as root (try: sudo $0)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-rgw: error: apt-get not found; this script supports Debian/Ubuntu only" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
pkgs=(ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl ca-certificates)

# A fresh container has no package lists; only refresh when apt cannot see a candidate.
cand=$(apt-cache policy radosgw 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
  echo "install-rgw: apt-get update" >&2
  apt-get update -qq || { echo "install-rgw: error: apt-get update failed" >&2; exit 1; }
fi

echo "install-rgw: installing ${pkgs[*]}" >&2
start=$(date +%s)
# The postinst scripts only enable systemd units (no daemon is started here; rgw.sh runs its own).
# Stale package lists point at .debs the mirror has replaced (404): refresh once and retry.
if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2; then
  echo "install-rgw: install failed; retrying after apt-get update" >&2
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >&2; then
    echo "install-rgw: error: apt-get install failed (packages: ${pkgs[*]})" >&2
    exit 1
  fi
fi

if missing; then
  for c in "${need[@]}"; do command -v "$c" >/dev/null 2>&1 || echo "install-rgw: error: '$c' still missing after install" >&2; done
  exit 1
fi
echo "install-rgw: done in $(( $(date +%s) - start ))s ($(radosgw --version 2>/dev/null | head -1))" >&2
