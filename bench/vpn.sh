#!/usr/bin/env bash
# bench/vpn.sh: TCP throughput (iperf3) through Sabre's userspace VPN and,
# in the same run and between the same two network namespaces, through
# strongSwan's charon with its kernel-libipsec plugin (the userspace ESP
# data path strongSwan ships); prints both and their ratio.
#
#   A (ns) 10.1.0.1 ── sabre0 / ipsec0 ── veth 192.0.2.1 ══ 192.0.2.2 veth ── B (ns) 10.2.0.1
#
# Sabre: `sabre run` in each namespace, manual AES-128-GCM SAs from ike_rc
# files, measured twice: plain ESP (raw sockets) and ESP-in-UDP on 4500
# (-u 4500), the encapsulation strongSwan's libipsec always uses.
# strongSwan: IKEv2 with a PSK, ESP AES-128-GCM (aes128gcm16), each charon
# in its namespace under `unshare -m` with a private tmpfs on /run.
#
# Usage (root): bench/vpn.sh        DURATION=10 (seconds per iperf3 run)
#                                   STREAMS=1   (iperf3 -P)
# Needs iperf3, strongswan-charon, strongswan-swanctl, libcharon-extra-plugins
# and libstrongswan-standard-plugins; installs them with apt-get if missing.
set -euo pipefail

DURATION=${DURATION:-10}
STREAMS=${STREAMS:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
command -v "$GO" >/dev/null || GO=/usr/local/go/bin/go

if [ "$(id -u)" != 0 ]; then
	echo "bench/vpn.sh: needs root (network namespaces, TUN devices)" >&2
	exit 1
fi
CHARON=/usr/lib/ipsec/charon
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
[ -x "$CHARON" ] || need+=(strongswan-charon)
command -v swanctl >/dev/null || need+=(strongswan-swanctl)
[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] || need+=(libcharon-extra-plugins)
[ -e /usr/lib/ipsec/plugins/libstrongswan-openssl.so ] || need+=(libstrongswan-standard-plugins)
command -v jq >/dev/null || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

WORK=$(mktemp -d /tmp/sabre-bench.XXXXXX)
ID=$$
NSA=sbench-$ID-a
NSB=sbench-$ID-b
PIDS=()
# stop_pid stops process $1 (ours, or a charon whose PID its wrapper
# wrote down) and waits until it has exited, at most 10 s.
stop_pid() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || return 0
		# a zombie has exited; its parent reaps it
		[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] && return 0
		sleep 0.05
	done
	echo "bench/vpn.sh: PID $1 did not exit on SIGTERM; killing it" >&2
	kill -KILL "$1" 2>/dev/null || true
}
cleanup() {
	# The charons are not our children (each is the child of an unshare'd
	# bash, which killing leaves charon running, reparented to init and
	# holding our output pipe): stop them first, by the PID their wrapper
	# recorded, and wait for them; then their wrappers end by themselves.
	local f p
	for f in "$WORK"/ss-*/charon.pid; do
		[ -s "$f" ] || continue
		p=$(cat "$f")
		grep -qs charon "/proc/$p/cmdline" && stop_pid "$p"
	done
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	wait 2>/dev/null || true
	ip netns del "$NSA" 2>/dev/null || true
	ip netns del "$NSB" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building sabre"
(cd "$ROOT" && "$GO" build -o "$WORK/sabre" ./cmd/sabre)

ip netns add "$NSA"
ip netns add "$NSB"
ip link add va netns "$NSA" type veth peer name vb netns "$NSB"
for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
ip netns exec "$NSA" sysctl -q -w net.ipv6.conf.va.disable_ipv6=1
ip netns exec "$NSB" sysctl -q -w net.ipv6.conf.vb.disable_ipv6=1
ip -n "$NSA" addr add 192.0.2.1/24 dev va
ip -n "$NSB" addr add 192.0.2.2/24 dev vb
ip -n "$NSA" link set va up
ip -n "$NSB" link set vb up

# iperf3 from A's 10.1.0.1 to B's 10.2.0.1; prints Mbit/s received.
measure() {
	ip netns exec "$NSB" iperf3 -s -B 10.2.0.1 >"$WORK/iperf-server.log" 2>&1 &
	local srv=$!
	for _ in $(seq 50); do
		ip netns exec "$NSB" ss -Hltn 'sport = :5201' | grep -q . && break
		sleep 0.1
	done
	if ! ip netns exec "$NSA" iperf3 -c 10.2.0.1 -B 10.1.0.1 -t "$DURATION" -P "$STREAMS" -J >"$WORK/iperf.json"; then
		jq -r '.error // empty' "$WORK/iperf.json" >&2
		kill "$srv"
		echo 0
		return
	fi
	kill "$srv"
	wait "$srv" 2>/dev/null || true
	jq -r '"  TCP retransmits: \(.end.sum_sent.retransmits)"' "$WORK/iperf.json" >&2
	jq '.end.sum_received.bits_per_second / 1e6 | floor' "$WORK/iperf.json"
}

# --- Sabre -------------------------------------------------------------
KAB=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
KBA=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')

sabre_run() { # $1: extra addsa options
	cat >"$WORK/A.rc" <<-EOF
		ipsec policy -n bench -t ESP -m tunnel -r 192.0.2.2 -s 10.1.0.0/24 -d 10.2.0.0/24 -e AES128-GCM16 -o
		ipsec addsa -n bench -e AES128-GCM16 -f $KBA -g $KAB -w 0x2001 -x 0x1001 $1
	EOF
	cat >"$WORK/B.rc" <<-EOF
		ipsec policy -n bench -t ESP -m tunnel -r 192.0.2.1 -s 10.2.0.0/24 -d 10.1.0.0/24 -e AES128-GCM16 -o
		ipsec addsa -n bench -e AES128-GCM16 -f $KAB -g $KBA -w 0x1001 -x 0x2001 $1
	EOF
	local pa pb
	ip netns exec "$NSA" "$WORK/sabre" run -rc "$WORK/A.rc" -sock "$WORK/a.sock" 2>"$WORK/sabre-a.log" &
	pa=$!
	ip netns exec "$NSB" "$WORK/sabre" run -rc "$WORK/B.rc" -sock "$WORK/b.sock" 2>"$WORK/sabre-b.log" &
	pb=$!
	PIDS+=("$pa" "$pb")
	for _ in $(seq 100); do
		[ -S "$WORK/a.sock" ] && [ -S "$WORK/b.sock" ] && break
		sleep 0.05
	done
	ip -n "$NSA" addr add 10.1.0.1/24 dev sabre0
	ip -n "$NSA" route replace 10.2.0.0/24 dev sabre0
	ip -n "$NSB" addr add 10.2.0.1/24 dev sabre0
	ip -n "$NSB" route replace 10.1.0.0/24 dev sabre0
	measure
	kill "$pa" "$pb"
	wait "$pa" "$pb" 2>/dev/null || true
}

echo "Sabre, ESP (raw sockets), AES-128-GCM: iperf3 -t $DURATION -P $STREAMS"
SABRE_ESP=$(sabre_run "")
echo "  $SABRE_ESP Mbit/s"
echo "Sabre, ESP-in-UDP (4500), AES-128-GCM"
SABRE_UDP=$(sabre_run "-u 4500")
echo "  $SABRE_UDP Mbit/s"

# --- strongSwan charon + kernel-libipsec --------------------------------
for side in A B; do
	if [ $side = A ]; then me=192.0.2.1 peer=192.0.2.2 lnet=10.1.0.0/24 rnet=10.2.0.0/24 lid=a rid=b
	else me=192.0.2.2 peer=192.0.2.1 lnet=10.2.0.0/24 rnet=10.1.0.0/24 lid=b rid=a; fi
	mkdir -p "$WORK/ss-$side"
	cat >"$WORK/ss-$side/strongswan.conf" <<-EOF
		charon {
		  load = random nonce openssl aes sha1 sha2 hmac gcm kdf curve25519 pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici
		  install_routes = yes
		  plugins {
		    kernel-libipsec { allow_peer_ts = yes }
		  }
		  filelog {
		    log { path = $WORK/charon-$side.log
		          default = 1 }
		  }
		}
		swanctl { load = pem pkcs1 x509 pubkey random nonce openssl }
	EOF
	cat >"$WORK/ss-$side/swanctl.conf" <<-EOF
		connections {
		  bench {
		    version = 2
		    local_addrs = $me
		    remote_addrs = $peer
		    proposals = aes128gcm16-prfsha256-x25519
		    local { auth = psk
		            id = $lid }
		    remote { auth = psk
		             id = $rid }
		    children {
		      net {
		        local_ts = $lnet
		        remote_ts = $rnet
		        esp_proposals = aes128gcm16
		        mode = tunnel
		      }
		    }
		  }
		}
		secrets {
		  ike-bench { id-a = a
		              id-b = b
		              secret = "sabre-bench-$ID" }
		}
	EOF
done
ip -n "$NSA" addr add 10.1.0.1/32 dev lo
ip -n "$NSB" addr add 10.2.0.1/32 dev lo

start_charon() { # $1 ns, $2 side
	local d="$WORK/ss-$2"
	ip netns exec "$1" unshare -m bash -c "
		mount -t tmpfs none /run
		export STRONGSWAN_CONF=$d/strongswan.conf
		$CHARON >$d/charon.out 2>&1 </dev/null &
		echo \$! >$d/charon.pid
		for i in \$(seq 100); do [ -S /run/charon.vici ] && break; sleep 0.05; done
		swanctl --load-all --file $d/swanctl.conf >$d/load.log 2>&1
		touch $d/ready
		if [ $2 = A ]; then swanctl --initiate --child net >$d/initiate.log 2>&1; touch $d/up; fi
		wait" &
	PIDS+=($!)
}
start_charon "$NSB" B
for _ in $(seq 100); do [ -e "$WORK/ss-B/ready" ] && break; sleep 0.05; done
start_charon "$NSA" A
for _ in $(seq 200); do [ -e "$WORK/ss-A/up" ] && break; sleep 0.05; done
if ! grep -q "CHILD_SA net{1} established" "$WORK/ss-A/initiate.log" 2>/dev/null; then
	echo "strongSwan did not establish the CHILD_SA:" >&2
	cat "$WORK/ss-A/load.log" "$WORK/ss-A/initiate.log" "$WORK/charon-A.log" >&2 2>/dev/null || true
	exit 1
fi
echo "strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null) charon + kernel-libipsec (ESP-in-UDP 4500), AES-128-GCM"
STRONGSWAN=$(measure)
echo "  $STRONGSWAN Mbit/s"

echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other load skews both alike)"
printf '%-44s %8s Mbit/s\n' "Sabre ESP (raw sockets)" "$SABRE_ESP" "Sabre ESP-in-UDP" "$SABRE_UDP" "strongSwan libipsec ESP-in-UDP" "$STRONGSWAN"
awk -v e="$SABRE_ESP" -v u="$SABRE_UDP" -v s="$STRONGSWAN" 'BEGIN {
	if (s > 0) {
		printf "ratio Sabre ESP-in-UDP / strongSwan libipsec: %.2fx (target >= 4x)\n", u / s
		printf "ratio Sabre ESP / strongSwan libipsec:        %.2fx\n", e / s
	}
}'
