#!/usr/bin/env bash
# A throwaway Ceph RADOS Gateway (real SigV4-verifying S3) on loopback for the integration tests.
#
#   scripts/rgw.sh up     [--port N] [--dir DIR] [--watch-pid PID]   -> `export S3_TEST_...` lines on stdout
#   scripts/rgw.sh down   [--port N] [--dir DIR]
#   scripts/rgw.sh status [--port N] [--dir DIR]
#
# One mon, one memstore OSD, one radosgw (beast), all in DIR (default $TMPDIR/s3-edge-rgw-<port>),
# all bound to 127.0.0.1. Logs stay in DIR/log; only the export lines go to stdout.
# --watch-pid: tear the cluster down when that process dies (a crashed test run leaves nothing).
# Install the packages first: scripts/install-rgw.sh
set -euo pipefail
self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

ACCESS_KEY=S3EDGETESTACCESSKEY1
# '/' and '+' on purpose: they must survive every layer that handles the secret.
SECRET_KEY='s3edge/test+secret/KEY0123456789abcdefghij'
REGION=us-east-1
# STS: a role the test user may assume (AssumeRole on the S3 endpoint), allowed every s3:* action.
ROLE_NAME=s3edge-sts
ROLE_ARN=arn:aws:iam:::role/$ROLE_NAME
START_TIMEOUT=${RGW_START_TIMEOUT:-60}

cmd=${1:-}; [ $# -gt 0 ] && shift
port=7480 dir= watch_pid=
while [ $# -gt 0 ]; do
  case $1 in
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --port=*) port=${1#*=}; shift ;;
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --dir=*) dir=${1#*=}; shift ;;
    --watch-pid) watch_pid=${2:?--watch-pid needs a value}; shift 2 ;;
    --watch-pid=*) watch_pid=${1#*=}; shift ;;
    *) echo "rgw.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case $port in ''|*[!0-9]*) echo "rgw.sh: --port must be a number, got '$port'" >&2; exit 2 ;; esac
[ -n "$dir" ] || dir=${TMPDIR:-/tmp}/s3-edge-rgw-$port
conf=$dir/ceph.conf

log() { echo "rgw.sh: $*" >&2; }
die() { echo "rgw.sh: error: $*" >&2; exit 1; }
# Startup failed: show why, stop what started, drop the half-made dir (the next up would anyway).
fail() { tail_logs; stop_all; rm -rf "$dir"; die "$* (while starting in $dir)"; }

# Something accepts connections on 127.0.0.1:$1 (no ss/netstat needed).
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A recorded pid only counts if it is still one of *our* daemons (pids get recycled).
live_pid() {
  local f=$dir/$1.pid pid
  [ -s "$f" ] || return 1
  pid=$(<"$f")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$conf" || return 1
  echo "$pid"
}

exports() {
  local p; p=$(<"$dir/port")
  printf 'export S3_TEST_ENDPOINT=%s\n' "http://127.0.0.1:$p"
  printf 'export S3_TEST_ACCESS_KEY_ID=%s\n' "$ACCESS_KEY"
  printf "export S3_TEST_SECRET_ACCESS_KEY='%s'\n" "$SECRET_KEY"
  printf 'export S3_TEST_REGION=%s\n' "$REGION"
  printf 'export S3_TEST_ROLE_ARN=%s\n' "$ROLE_ARN"
}

# Any of these pids still running? A zombie (killed, not yet reaped by whoever inherited it)
# is not: it holds no port or memory, and `kill -0` would wrongly say it's alive.
running() {
  local p st
  for p; do
    st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || continue
    case $st in ''|Z|X) ;; *) return 0 ;; esac
  done
  return 1
}

stop_all() {
  # radosgw and the OSD stop answering SIGTERM once the mon is gone, so they go first; whatever
  # is still alive after a short wait gets SIGKILL (the data is thrown away anyway).
  local group name pid i pids
  for group in "radosgw osd" "mon watch"; do
    pids=
    for name in $group; do
      pid=$(live_pid "$name") || continue
      [ "$pid" = $$ ] && continue   # the watcher runs `down` itself
      kill -TERM "$pid" 2>/dev/null && pids="$pids $pid"
    done
    [ -n "$pids" ] || continue
    for i in $(seq 1 10); do running $pids || break; sleep 0.1; done
    running $pids && kill -KILL $pids 2>/dev/null
    for i in $(seq 1 20); do running $pids || break; sleep 0.1; done
  done
}

tail_logs() {
  local f
  for f in "$dir"/log/*.log; do
    [ -f "$f" ] || continue
    echo "----- tail of $f -----" >&2
    tail -n 25 "$f" >&2
  done
}

free_port() { # a free loopback port in 20000..29999 other than the ones in $@
  local p i x
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 10000))
    for x in "$@"; do [ "$p" = "$x" ] && continue 2; done
    port_busy "$p" || { echo "$p"; return 0; }
  done
  return 1
}

up() {
  local b
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen curl; do
    command -v "$b" >/dev/null 2>&1 || die "'$b' not found; install Ceph RGW first: sudo scripts/install-rgw.sh"
  done
  if [ -d "$dir" ]; then
    [ -f "$conf" ] || [ -z "$(ls -A "$dir")" ] || die "$dir exists and is not an rgw.sh cluster dir; not touching it"
    if live_pid mon >/dev/null || live_pid osd >/dev/null || live_pid radosgw >/dev/null; then
      die "a cluster is already running in $dir; run: scripts/rgw.sh down --dir $dir"
    fi
    rm -rf "$dir"   # stale leftovers of a killed run
  fi
  port_busy "$port" && die "port 127.0.0.1:$port is already in use; pick another with --port N"

  local mon2 mon1 fsid osd_uuid t0=$SECONDS
  mon2=$(free_port "$port") && mon1=$(free_port "$port" "$mon2") || die "no free port for the mon"
  fsid=$(uuidgen); osd_uuid=$(uuidgen)
  mkdir -p "$dir"/{mon,osd/ceph-0,run,log,rgw}
  echo "$port" >"$dir/port"

  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon initial members = a
mon host = [v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = false
mon cluster log to file = false
crash dir = $dir/crash
keyring = $dir/keyring

# Auth inside the throwaway cluster is off (S3 requests are still SigV4-checked by RGW).
# radosgw's messenger defaults to "secure" mode, which needs cephx: -13 without these.
auth cluster required = none
auth service required = none
auth client required = none
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc

# One OSD: pools of size 1, few PGs, no autoscaler (there is no mgr).
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
# Every pool RGW creates is an osdmap epoch, and the mon batches proposals for 1 s by default:
# that alone made startup ~12 s and the first bucket creation ~6 s.
paxos propose interval = 0.05
paxos min wait = 0.01
# radosgw starts before the OSD is up; its first ops wait for the Objecter tick (5 s) to be resent.
objecter tick interval = 0.2

[mon]
mon data = $dir/mon/\$cluster-\$id

[osd]
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
# memstore keeps objects in RAM: OSD RSS grows by ~2x what the tests store (a 300 MB object
# added ~680 MB) and is not given back on delete (RGW gc is off). The "disk" is 3 GiB, so the
# OSD reports full (writes fail) long before it can eat the 24 GiB machine: worst case ~7 GB RSS.
# A full npm test peaked at 2.0 GiB OSD RSS (about 1 GiB stored: the runtime matrix runs the download
# suites, with 64 MiB objects, in four runtimes); the former 512 MiB filled up and hung the run.
memstore device bytes = 3221225472
osd op num shards = 1
osd op num threads per shard = 2

[client]
rgw data = $dir/rgw
# Path-style on 127.0.0.1 always works; with a DNS name set, Host "<bucket>.localhost" is
# virtual-hosted style too (a Host that is not under it stays path style).
rgw dns name = localhost
rgw frontends = beast endpoint=127.0.0.1:$port
rgw thread pool size = 64
rgw enable gc threads = false
rgw enable lc threads = false
rgw dynamic resharding = false
rgw enable usage log = false
# STS (AssumeRole) for the session-token tests. The key encrypts the session tokens RGW hands
# out and must be exactly 16 characters; without "use sts" RGW refuses the temporary keys.
rgw sts key = s3edgeTestSts016
rgw s3 auth use sts = true
# Local users first: with the default "sts, external, local" a wrong secret for a real user comes
# back as AccessDenied instead of SignatureDoesNotMatch (the STS engine's denial wins).
rgw s3 auth order = local, sts
# SSE-C over plain HTTP: on loopback only, so the tests can prove customer-key encryption headers.
rgw crypt require ssl = false
EOF

  log "creating cluster in $dir (mon ports $mon2/$mon1, S3 port $port)"
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]" \
    "$dir/monmap" >>"$dir/log/setup.log" 2>&1 || fail "monmaptool failed"
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >>"$dir/log/setup.log" 2>&1 \
    || fail "ceph-mon --mkfs failed"

  cd "$dir"
  ceph-mon -c "$conf" -f -i a </dev/null >>"$dir/log/mon.out" 2>&1 &
  echo $! >"$dir/mon.pid"

  # `osd new` registers osd.0 (waits for the mon); mkfs fills the memstore, then the OSD runs.
  timeout 30 ceph -c "$conf" --connect-timeout 25 osd new "$osd_uuid" 0 >>"$dir/log/setup.log" 2>&1 \
    || fail "mon did not come up (ceph osd new failed)"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/setup.log" 2>&1 \
    || fail "ceph-osd --mkfs failed"
  ceph-osd -c "$conf" -f -i 0 </dev/null >>"$dir/log/osd.out" 2>&1 &
  echo $! >"$dir/osd.pid"

  radosgw -c "$conf" -f -n client.rgw.a </dev/null >>"$dir/log/radosgw.out" 2>&1 &
  echo $! >"$dir/radosgw.pid"

  local ok=
  while [ $((SECONDS - t0)) -lt "$START_TIMEOUT" ]; do
    for b in mon osd radosgw; do
      live_pid "$b" >/dev/null || fail "ceph $b exited during startup"
    done
    if [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/")" != 000 ]; then ok=1; break; fi
    sleep 0.3
  done
  [ -n "$ok" ] || fail "S3 endpoint http://127.0.0.1:$port did not answer within ${START_TIMEOUT}s"

  radosgw-admin -c "$conf" user create --uid=s3edge --display-name=s3edge \
    --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" >>"$dir/log/setup.log" 2>&1 \
    || fail "radosgw-admin user create failed"
  # Trust policy: only the test user may assume the role; its permission policy allows all of S3.
  radosgw-admin -c "$conf" role create --role-name="$ROLE_NAME" \
    --assume-role-policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/s3edge"]},"Action":["sts:AssumeRole"]}]}' \
    >>"$dir/log/setup.log" 2>&1 || fail "radosgw-admin role create failed"
  radosgw-admin -c "$conf" role-policy put --role-name="$ROLE_NAME" --policy-name=s3-all \
    --policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}' \
    >>"$dir/log/setup.log" 2>&1 || fail "radosgw-admin role-policy put failed"

  if [ -n "$watch_pid" ]; then
    # Own session + closed stdio: survives the caller, and never holds the caller's pipes open.
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
                    [ -d "$2" ] && exec "$3" down --dir "$2"' rgw-watch "$watch_pid" "$dir" "$self" "$conf" \
      </dev/null >>"$dir/log/watch.out" 2>&1 &
    echo $! >"$dir/watch.pid"
  fi
  log "ready in $((SECONDS - t0))s: http://127.0.0.1:$port (stop: scripts/rgw.sh down --dir $dir)"
  exports
}

down() {
  if [ ! -d "$dir" ]; then log "nothing to stop in $dir"; return 0; fi
  [ -f "$conf" ] || die "$dir does not look like an rgw.sh cluster dir (no ceph.conf); not removing it"
  stop_all
  rm -rf "$dir"
  log "stopped and removed $dir"
}

status() {
  [ -f "$conf" ] || { echo "not running ($dir)"; return 3; }
  local b pid rc=0
  for b in mon osd radosgw; do
    if pid=$(live_pid "$b"); then echo "$b: running (pid $pid)"; else echo "$b: not running"; rc=3; fi
  done
  [ $rc -eq 0 ] && exports
  return $rc
}

case $cmd in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: scripts/rgw.sh up|down|status [--port N] [--dir DIR] [--watch-pid PID]" >&2; exit 2 ;;
esac
