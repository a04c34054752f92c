#!/bin/bash
# Record real non-Tor traffic that resembles Tor's pluggable transports, as labelled
# negatives for the Snowflake / meek / WebTunnel items (docs/research/transports-2026-12-01.md
# §1.7, §5, §6 "Negatives still missing"). NEVER RUN IN CI: it needs root, creates network
# namespaces, installs Debian packages and runs for about 20-25 minutes (sets 1-4) plus about
# 45-50 minutes (set 5) plus about 45 minutes (set 6 by default).
#
# usage: bash tools/pt_negatives.sh -o DIR [-s 1,2,3,4,5,6] [-r REGEX] [-n]
#   -o DIR   output (captures in DIR/<set>/*.pcap, one NAME.labels.csv beside each, DIR/MANIFEST.md)
#   -s LIST  sets to record (default all): 1 pion data channels, 2 DTLS-SRTP media calls
#            (pion, aiortc, GStreamer webrtcbin, pion<->aiortc), 3 aiortc and GStreamer
#            (usrsctp) data channels, 4 long-polling HTTPS and
#            WebSocket over TLS (Go net/http, nginx + Node ws, Python websockets, a WebSocket
#            tunnel carrying an inner TLS stream), 5 many short pion data-channel sessions
#            (one capture each, most 10-40 s; 2-70 s in all): TCP tunnels over data channels carrying real TLS
#            and HTTP (curl and openssl s_client through pionpeer -mode tunnel to nginx and
#            tlsecho.py: tools/ptneg/tunnel.sh; clients beside the offerer, and reversed:
#            clients beside the answerer, servers beside the offerer), file transfers of
#            1-64 KB messages at various rates, chat, echo, game-like updates and
#            request/response; 6 many more short pion data-channel sessions, 40 to a capture, each
#            with a workload drawn at random (tools/ptneg/pionmany.go: TLS 1.2/1.3 streams of Go's
#            crypto/tls and net/http through the data channel, per record or through a TCP
#            tunnel, bulk transfers, message streams, request/response): SET6_PAIRS (8) pairs of
#            processes at once (numbered from SET6_FIRST_PAIR, 0), SET6_BATCHES (8) captures
#            each; about 5 s a session. The set of 2026-12-02: pairs 0-9 with 12 captures
#            each (SET6_PAIRS=10 SET6_BATCHES=12) and pairs 10-17 with 8 (SET6_FIRST_PAIR=10
#            SET6_PAIRS=8 SET6_BATCHES=8; that part ran beside the first, its set-6 block
#            inside the first run's namespaces: a second run of this script would remake them,
#            so run the two parts one after the other)
#   -r REGEX record only the sessions whose capture name matches (grep -E)
#   -n       do not apt-get install missing packages
#   -m       only label again: run flows.py over every capture in DIR/captures.tsv and write
#            DIR/MANIFEST.md (no recording)
#
# Two namespaces ptneg-a (10.99.0.1, the client / WebRTC offerer) and ptneg-b (10.99.0.2,
# server / answerer) joined by a veth pair (tools/ptneg/netns.sh: MTU 1500, offloads off, as
# tools/tls_negatives.py). Every capture is tcpdump -s 65535 on ptneg-a's veth, one session
# (or one client/server run) per file, so every UDP 5-tuple / TCP connection in a file is
# the labelled non-Tor program. WebRTC signalling goes through files (not on the wire); no
# STUN/TURN servers: ICE host candidates only, so the STUN in the captures is ICE's
# connectivity checks and consent freshness (Binding requests with USERNAME/MI/FINGERPRINT).
# pion sessions keep ICE in a port range of their own (-ports), so up to two run at once;
# a session with an aiortc or GStreamer end (ports not settable) runs alone in the "aio" queue, whose
# filter excludes flows with both ports in 20000-29999 (the pion ranges). Set 5's sessions take
# the 60 ranges 24000-29999 in turn; a tunnel listens on TCP port range + 10000 (the offerer, or
# with -rev the answerer; 34000-39999 are reserved in both namespaces against ephemeral ports).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PT=$HERE/ptneg
OUT= SETS=1,2,3,4,5,6 INSTALL=1 ONLY= RELABEL=0
while getopts "o:s:r:nmh" o; do
	case $o in
	o) OUT=$OPTARG ;;
	s) SETS=$OPTARG ;;
	r) ONLY=$OPTARG ;;
	n) INSTALL=0 ;;
	m) RELABEL=1 INSTALL=0 ;;
	*) sed -n '2,26p' "$0"; exit 2 ;;
	esac
done
[ -n "$OUT" ] || { echo "-o DIR is required" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
want() { case ",$SETS," in *",$1,"*) return 0 ;; esac; return 1; }
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$OUT/run.log" >&2; }

APT="tcpdump tshark ethtool iproute2 golang-go golang-github-pion-webrtc.v3-dev python3-aiortc
python3-numpy python3-websockets nginx-light nodejs node-ws openssl curl python3-gi
gstreamer1.0-nice gstreamer1.0-plugins-bad gstreamer1.0-plugins-good gstreamer1.0-plugins-base
gir1.2-gst-plugins-bad-1.0 gir1.2-gst-plugins-base-1.0"
if [ $INSTALL = 1 ]; then
	missing=
	for p in $APT; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	# nodejs from another source, nginx-full/-extras: fine if the program is there
	for pp in nodejs:node nginx-light:nginx; do
		case " $missing " in *" ${pp%%:*} "*) command -v "${pp#*:}" >/dev/null &&
			missing=$(echo "$missing" | sed "s/ ${pp%%:*}\b//") ;; esac
	done
	[ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi
PY=/usr/bin/python3 # Debian's, which has aiortc (not a pyenv one)
if [ $RELABEL = 1 ]; then
	while IFS=$'\t' read -r set name lab prog desc; do
		nice $PY "$PT/flows.py" "$OUT/$set/$name.pcap" "$lab" "$prog" "$desc"
	done <"$OUT/captures.tsv" >>"$OUT/flows.log" 2>&1
	nice $PY "$PT/manifest.py" "$OUT" >"$OUT/MANIFEST.md"
	log "labelled again: $OUT/MANIFEST.md"
	exit 0
fi

# ---------------------------------------------------------------- build (Debian's Go way)
BIN=$OUT/bin
BUILD=$(mktemp -d /work/tmp-ptneg-build-XXXX)
mkdir -p "$BIN" "$BUILD/gopath/src/ptneg"
# GOPATH mode cannot see /vN module paths: link github.com/x/y/vN -> /usr/share/gocode/.../y
(cd /usr/share/gocode/src && find . -name go.mod -not -path '*/testdata/*' | while read -r f; do
	m=$(awk '/^module /{print $2; exit}' "$f"); d=${f#./}; d=${d%/go.mod}
	if [ "$m" != "$d" ] && [ "${m%/v[0-9]*}" = "$d" ]; then
		mkdir -p "$BUILD/gopath/src/$d"; ln -sfn "/usr/share/gocode/src/$d" "$BUILD/gopath/src/$m"
	fi
done)
for prog in pionpeer longpoll pionmany; do
	[ "$prog" = longpoll ] && ! want 4 && continue
	mkdir -p "$BUILD/gopath/src/ptneg/$prog"
	cp "$PT/$prog.go" "$BUILD/gopath/src/ptneg/$prog/"
	(cd "$BUILD/gopath/src/ptneg/$prog" && GO111MODULE=off GOFLAGS= GOPATH=$BUILD/gopath:/usr/share/gocode \
		GOCACHE=$BUILD/gocache nice go build -o "$BIN/$prog" .) || { echo "build $prog failed" >&2; exit 1; }
done
rm -rf "$BUILD"

# ---------------------------------------------------------------- network, cleanup
. "$PT/netns.sh"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	[ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null
	type tun_down >/dev/null 2>&1 && tun_down
	sleep 1
	net_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM
net_up
log "namespaces up; output $OUT"

GO_V=$(go version | awk '{print $3}')
PION_V="pion/webrtc $(dpkg-query -W -f='${Version}' golang-github-pion-webrtc.v3-dev | cut -d- -f1) (dtls $(dpkg-query -W -f='${Version}' golang-github-pion-dtls.v2-dev | cut -d- -f1), sctp $(dpkg-query -W -f='${Version}' golang-github-pion-sctp-dev | cut -d- -f1)), $GO_V"
AIO_V="aiortc $(dpkg-query -W -f='${Version}' python3-aiortc | cut -d- -f1) (aioice $(dpkg-query -W -f='${Version}' python3-aioice | cut -d- -f1), PyAV $(dpkg-query -W -f='${Version}' python3-av | cut -d- -f1), $($PY -c 'import ssl,sys; print("Python %d.%d.%d, " % sys.version_info[:3] + ssl.OPENSSL_VERSION)'))"

GST_V="GStreamer webrtcbin $(dpkg-query -W -f='${Version}' gstreamer1.0-plugins-bad | cut -d- -f1) (libnice $(dpkg-query -W -f='${Version}' gstreamer1.0-nice | cut -d- -f1), usrsctp, dtls plugin over OpenSSL, libsrtp2; Python gi)"

# label NAME SET LABEL PROGRAM DESC: labels.csv for DIR/SET/NAME.pcap
label() {
	nice $PY "$PT/flows.py" "$OUT/$2/$1.pcap" "$3" "$4" "$5" >>"$OUT/flows.log" 2>&1
	printf '%s\t%s\t%s\t%s\t%s\n' "$2" "$1" "$3" "$4" "$5" >>"$OUT/captures.tsv"
}

# flags IMPL ARGS...: key=value / bare words -> pionpeer (-k v) or aiopeer.py (--k v) flags
flags() {
	local impl=$1 a k v; shift
	for a in "$@"; do
		k=${a%%=*}; v=${a#*=}
		if [ "$impl" = pion ]; then
			case $k in width|height|audio-only) continue ;; esac
			[ "$k" = "$a" ] && printf -- '-%s\n' "$k" || printf -- '-%s\n%s\n' "$k" "$v"
		elif [ "$impl" = gst ]; then
			case $k in rate|maxrt|label|unordered|audio-only|dc) continue ;; esac
			[ "$k" = "$a" ] && printf -- '--%s\n' "$k" || printf -- '--%s\n%s\n' "$k" "$v"
		else
			case $k in rate|maxrt|label|kbps) continue ;; esac
			[ "$k" = "$a" ] && printf -- '--%s\n' "$k" || printf -- '--%s\n%s\n' "$k" "$v"
		fi
	done
}

# rtc SET NAME LABEL OFFER_IMPL ANSWER_IMPL PORTBASE DESC ARGS...: one WebRTC session. With
# WORK[NAME] set (set 5's tunnels), the offerer runs in the background and, once it has written
# SIG/ready, WORK[NAME] (bash) drives clients through the tunnel; then SIG/stop ends the session.
declare -A WORK=()
rtc() {
	local set=$1 name=$2 lab=$3 oi=$4 ai=$5 pb=$6 desc=$7; shift 7
	local d=$OUT/$set sig cap filt oargs=() aargs=() prog
	mkdir -p "$d"
	sig=$(mktemp -d /work/tmp-ptneg-sig-XXXX)
	if [ "$oi" = pion ] && [ "$ai" = pion ]; then
		filt="udp portrange $pb-$((pb + 99))"
	else
		filt="udp and not (src portrange 20000-29999 and dst portrange 20000-29999)"
	fi
	mapfile -t oargs < <(flags "$oi" role=offer "sig=$sig" "$@")
	mapfile -t aargs < <(flags "$ai" role=answer "sig=$sig" "$@")
	if [ "$oi" = pion ]; then oargs+=(-ip "$IP_A" -ports "$pb-$((pb + 49))"); fi
	if [ "$ai" = pion ]; then aargs+=(-ip "$IP_B" -ports "$((pb + 50))-$((pb + 99))"); fi
	cmd() { case $1 in pion) echo "$BIN/pionpeer" ;; gst) echo "$PY $PT/gstpeer.py" ;; *) echo "$PY $PT/aiopeer.py" ;; esac; }
	cap_start "$d/$name.pcap" "$filt"
	local cp=$CAP_PID
	in_ns "$NS_B" nice $(cmd "$ai") "${aargs[@]}" 2>"$d/$name.answer.log" &
	local ap=$!
	if [ -n "${WORK[$name]:-}" ]; then
		in_ns "$NS_A" nice $(cmd "$oi") "${oargs[@]}" 2>"$d/$name.offer.log" &
		local op=$! i
		for i in $(seq 300); do [ -f "$sig/ready" ] && break; sleep 0.1; done
		if [ -f "$sig/ready" ]; then
			(eval "${WORK[$name]}") >"$d/$name.work.log" 2>&1
			[ -s "$d/$name.work.log" ] || rm -f "$d/$name.work.log"
		else
			log "$set/$name: the tunnel did not come up"
		fi
		touch "$sig/stop"
		wait $op
	else
		in_ns "$NS_A" nice $(cmd "$oi") "${oargs[@]}" 2>"$d/$name.offer.log"
	fi
	wait $ap
	cap_stop $cp
	rm -rf "$sig"
	case $oi/$ai in
	pion/pion) prog="$PION_V, both ends" ;;
	aio/aio) prog="$AIO_V, both ends" ;;
	pion/aio) prog="offerer (DTLS client) $PION_V; answerer $AIO_V" ;;
	aio/pion) prog="offerer $AIO_V; answerer (DTLS client) $PION_V" ;;
	gst/gst) prog="$GST_V, both ends" ;;
	esac
	label "$name" "$set" "$lab" "$prog" "$desc [$*]"
	log "$set/$name done"
}

# queues: pion-only sessions up to 2 at a time; sessions with an aiortc end one at a time
PQ=() AQ=()
only() { [ -z "$ONLY" ] || echo "$1" | grep -qE "$ONLY"; }
pq() { only "$2" && PQ+=("$*"); }
aq() { only "$2" && AQ+=("$*"); }
run_pq() {
	local j n=0
	for j in "${PQ[@]}"; do
		eval "rtc $j" &
		n=$((n + 1))
		if [ $n -ge 2 ]; then wait -n; n=$((n - 1)); fi
	done
	wait
}
run_aq() { local j; for j in "${AQ[@]}"; do eval "rtc $j"; done; }

D=non-tor-webrtc-datachannel M=non-tor-webrtc-media
if want 1; then # pion <-> pion data channels (the Snowflake library, not Snowflake)
	pq 1 pion-bulk-2M $D pion pion 20000 "'bulk 2 MB, 16 KB messages, unthrottled'" mode=bulk size=2000000 chunk=16384
	pq 1 pion-bulk-5M-60k $D pion pion 20100 "'bulk 5 MB, 60000-byte messages, unthrottled'" mode=bulk size=5000000 chunk=60000
	pq 1 pion-bulk-10M-rate $D pion pion 20200 "'bulk 10 MB at 1.5 MB/s'" mode=bulk size=10000000 chunk=16384 rate=1500000
	pq 1 pion-bulk-20M-rate $D pion pion 20300 "'bulk 20 MB at 2 MB/s, 8 KB messages'" mode=bulk size=20000000 chunk=8192 rate=2000000
	pq 1 pion-bulk-6M-slow $D pion pion 20400 "'bulk 6 MB at 100 kB/s (about 60 s; proxy-like rate)'" mode=bulk size=6000000 chunk=16384 rate=100000
	pq 1 pion-bulk-8M-1200 $D pion pion 20500 "'bulk 8 MB in 1200-byte messages at 500 kB/s'" mode=bulk size=8000000 chunk=1200 rate=500000
	pq 1 pion-bulk-3M-unordered $D pion pion 20600 "'bulk 3 MB, unordered channel, 300 kB/s'" mode=bulk size=3000000 chunk=16384 rate=300000 unordered
	pq 1 pion-bulk-12M-32k $D pion pion 20700 "'bulk 12 MB, 32 KB messages, unthrottled'" mode=bulk size=12000000 chunk=32768
	pq 1 pion-chat-60s $D pion pion 20800 "'chat 60 s, mean gap 1 s'" mode=chat dur=60 gap=1.0 seed=11
	pq 1 pion-chat-60s-busy $D pion pion 20900 "'chat 60 s, mean gap 0.3 s'" mode=chat dur=60 gap=0.3 seed=12
	pq 1 pion-chat-90s-sparse $D pion pion 21000 "'chat 90 s, mean gap 4 s'" mode=chat dur=90 gap=4 seed=13
	pq 1 pion-echo-60s $D pion pion 21100 "'echo 60 s, 1-200-byte messages, mean gap 0.2 s'" mode=echo dur=60 chunk=200 gap=0.2 seed=14
	pq 1 pion-echo-45s-4k $D pion pion 21200 "'echo 45 s, 1-4000-byte messages, mean gap 0.05 s'" mode=echo dur=45 chunk=4000 gap=0.05 seed=15
	pq 1 pion-reqresp-90s $D pion pion 21400 "'tunnel-like browsing: 100-800-byte requests, log-normal 2 kB-2 MB answers in 16 KB messages, think time ~2 s, 90 s'" mode=reqresp dur=90 gap=2 chunk=16384 seed=17
	pq 1 pion-reqresp-120s-sparse $D pion pion 21500 "'tunnel-like browsing, think time ~6 s, 8 KB messages, 120 s'" mode=reqresp dur=120 gap=6 chunk=8192 seed=18
	pq 1 pion-reqresp-60s-busy $D pion pion 21600 "'tunnel-like browsing, think time ~0.3 s, 60 s'" mode=reqresp dur=60 gap=0.3 chunk=16384 seed=19
	pq 1 pion-echo-60s-game $D pion pion 21300 "'echo 60 s, unordered, maxRetransmits 0, 1-1200 bytes, mean gap 0.03 s (game-like)'" mode=echo dur=60 chunk=1200 gap=0.03 unordered maxrt=0 seed=16
fi
if want 2; then # DTLS-SRTP calls
	pq 2 pion-call-60s $M pion pion 22000 "'video call both ways (VP8 ~60 kB/s + Opus), 60 s'" mode=media dur=60 rate=60000 bidir seed=21
	pq 2 pion-stream-60s-hd $M pion pion 22100 "'one-way VP8 ~150 kB/s + Opus, 60 s'" mode=media dur=60 rate=150000 seed=22
	pq 2 pion-call-dc-45s $M pion pion 22200 "'call both ways with a chat data channel beside (SRTP + DTLS app data), 45 s'" mode=media dur=45 rate=40000 bidir dc gap=1.5 seed=23
	pq 2 pion-call-90s-low $M pion pion 22300 "'call both ways, low video rate ~20 kB/s, 90 s'" mode=media dur=90 rate=20000 bidir seed=24
	pq 2 pion-stream-30s-300k $M pion pion 22400 "'one-way VP8 ~300 kB/s + Opus, 30 s'" mode=media dur=30 rate=300000 seed=25
	pq 2 pion-call-120s $M pion pion 22500 "'call both ways ~80 kB/s, 120 s'" mode=media dur=120 rate=80000 bidir seed=26
	aq 2 aio-call-60s $M aio aio 0 "'video call both ways (libvpx VP8 320x240 + Opus tone), 60 s'" mode=media dur=60 bidir seed=31
	aq 2 aio-stream-45s-640 $M aio aio 0 "'one-way VP8 640x480 + Opus, 45 s'" mode=media dur=45 width=640 height=480 seed=32
	aq 2 aio-audio-60s $M aio aio 0 "'audio-only call both ways (Opus), 60 s'" mode=media dur=60 bidir audio-only seed=33
	aq 2 aio-call-dc-45s $M aio aio 0 "'call both ways with a chat data channel, 45 s'" mode=media dur=45 bidir dc gap=1.5 seed=34
	aq 2 aio-audio-30s-oneway $M aio aio 0 "'one-way audio (Opus), 30 s'" mode=media dur=30 audio-only seed=35
	aq 2 gst-call-60s $M gst gst 0 "'GStreamer video call both ways (vp8enc 320x240 400 kb/s + opusenc), 60 s'" mode=media dur=60 bidir kbps=400 seed=38
	aq 2 gst-stream-45s-640 $M gst gst 0 "'GStreamer one-way vp8enc 640x480 1200 kb/s + opusenc, 45 s'" mode=media dur=45 width=640 height=480 kbps=1200 seed=39
	aq 2 gst-call-90s-low $M gst gst 0 "'GStreamer call both ways, 160x120 150 kb/s, 90 s'" mode=media dur=90 bidir width=160 height=120 kbps=150 seed=40
	aq 2 x-pion2aio-call-45s $M pion aio 23000 "'pion offerer (DTLS client) sends VP8+Opus, aiortc answerer sends libvpx VP8+Opus, 45 s'" mode=media dur=45 rate=50000 bidir seed=36
	aq 2 x-aio2pion-call-45s $M aio pion 23100 "'aiortc offerer sends VP8+Opus, pion answerer (DTLS client) too, 45 s'" mode=media dur=45 rate=50000 bidir seed=37
fi
if want 3; then # aiortc data channels (aiortc's own SCTP over OpenSSL DTLS)
	aq 3 aio-bulk-2M $D aio aio 0 "'bulk 2 MB, 16 KB messages'" mode=bulk size=2000000 chunk=16384
	aq 3 aio-bulk-8M $D aio aio 0 "'bulk 8 MB, 16 KB messages'" mode=bulk size=8000000 chunk=16384
	aq 3 aio-bulk-5M-60k $D aio aio 0 "'bulk 5 MB, 60000-byte messages'" mode=bulk size=5000000 chunk=60000
	aq 3 aio-chat-60s $D aio aio 0 "'chat 60 s, mean gap 1 s'" mode=chat dur=60 gap=1.0 seed=41
	aq 3 aio-echo-45s $D aio aio 0 "'echo 45 s, 1-1000-byte messages, mean gap 0.1 s'" mode=echo dur=45 chunk=1000 gap=0.1 seed=42
	aq 3 gst-chat-60s $D gst gst 0 "'GStreamer webrtcbin (usrsctp) chat 60 s, mean gap 1 s'" mode=chat dur=60 gap=1.0 seed=44
	aq 3 gst-chat-90s-busy $D gst gst 0 "'GStreamer webrtcbin chat 90 s, mean gap 0.3 s'" mode=chat dur=90 gap=0.3 seed=45
	aq 3 gst-bulk-5M $D gst gst 0 "'GStreamer webrtcbin bulk 5 MB, 16 KB messages'" mode=bulk size=5000000 chunk=16384
	aq 3 gst-bulk-15M-60k $D gst gst 0 "'GStreamer webrtcbin bulk 15 MB, 60000-byte messages'" mode=bulk size=15000000 chunk=60000
	aq 3 x-pion2aio-bulk-5M $D pion aio 23200 "'pion offerer (DTLS client) sends 5 MB to aiortc'" mode=bulk size=5000000 chunk=16384
	aq 3 x-aio2pion-chat-60s $D aio pion 23300 "'aiortc offerer, pion answerer (DTLS client): chat 60 s'" mode=chat dur=60 gap=0.7 seed=43
fi

if want 5; then # many short pion <-> pion data-channel sessions (DTLS server: the offerer 10.99.0.1)
	. "$PT/tunnel.sh"
	tun_setup || exit 1
	CURL_V="curl $(dpkg-query -W -f='${Version}' curl | cut -d- -f1) ($(openssl version | cut -d' ' -f1-2))"
	NGX_V="nginx $(dpkg-query -W -f='${Version}' nginx-light 2>/dev/null | cut -d- -f1)"
	TT=non-tor-webrtc-dc-tunnel-tls TH=non-tor-webrtc-dc-tunnel-http N5=0 PB=24000
	# nextpb: the next of the 60 port ranges 24000-29999 (at most 2 sessions run at once)
	nextpb() { PB=$((24000 + (N5 % 60) * 100)); N5=$((N5 + 1)); }
	# t5 SET NAME LABEL TARGET RBUF DESC WORK: a TCP tunnel session; WORK may use $LP (the port the
	# offerer listens on in ptneg-a) and runs the clients
	t5() {
		nextpb
		local lp=$((PB + 10000))
		WORK[$2]="LP=$lp; $7"
		pq 5 "$2" "$3" pion pion $PB "'$6; clients: $7'" mode=tunnel dur=200 listen=127.0.0.1:$lp target=$4 rbuf=$5
	}
	# r5: as t5, a reverse tunnel (pionpeer -rev): the answerer listens on $LP in ptneg-b, where
	# WORK runs the clients; the offerer (the DTLS server) dials TARGET in ptneg-a
	r5() {
		nextpb
		local lp=$((PB + 10000))
		WORK[$2]="LP=$lp; CNS=$NS_B; $7"
		pq 5 "$2" "$3" pion pion $PB "'reverse tunnel (clients beside the answerer 10.99.0.2, servers beside the offerer, the DTLS server, which so sends the downloads): $6; clients: $7'" mode=tunnel rev dur=200 listen=127.0.0.1:$lp target=$4 rbuf=$5
	}
	# s5 NAME DESC ARGS...: a session of one of pionpeer's own modes
	s5() { nextpb; local n=$1 dd=$2; shift 2; pq 5 "$n" $D pion pion $PB "'$dd'" "$@"; }
	RB=(16384 4096 32768 65535 8192 1500 2048)
	IN="inside: $CURL_V to $NGX_V"
	tunnels() { # tunnels J: the J-th session of each tunnel kind (some kinds have fewer)
		local j=$1 sd=$((500 + $1 * 13)) rb=${RB[$(($1 % 7))]} v
		local U='https://127.0.0.1:$LP' H='http://127.0.0.1:$LP'
		[ $j -lt 5 ] && t5 5 tun-tls-files-h1-$j $TT 127.0.0.1:4443 $rb "curl HTTPS file downloads (HTTP/1.1, a connection per run) through a data-channel TCP tunnel; $IN" \
			"tw_files $U $sd $((4 + j)) $((1 + j % 4)) $((4 + j % 5)) --http1.1"
		[ $j -lt 3 ] && t5 5 tun-tls-files-h2-$j $TT 127.0.0.1:4443 $rb "curl HTTPS file downloads (HTTP/2) through a data-channel TCP tunnel; $IN" \
			"tw_files $U $((sd + 1)) $((5 + j)) $((2 + j)) $((5 + j))"
		[ $j -lt 7 ] && t5 5 tun-tls-browse-h1-$j $TT 127.0.0.1:4443 $rb "page loads (a page and 4-24 assets of 1-150 kB on one HTTP/1.1 keep-alive TLS connection), think time 0-$((1 + j % 4)) s; $IN" \
			"tw_browse $U $((sd + 2)) $((8 + j)) $((1 + j % 4)) 1 --http1.1"
		[ $j -lt 6 ] && t5 5 tun-tls-browse-h2-$j $TT 127.0.0.1:4443 $rb "page loads over HTTP/2 (one TLS connection per page), think time 0-$((1 + j % 3)) s; $IN" \
			"tw_browse $U $((sd + 3)) $((8 + j)) $((1 + j % 3)) 1 --http2"
		[ $j -lt 5 ] && t5 5 tun-tls-browse-par4-$j $TT 127.0.0.1:4443 $rb "page loads on 4 parallel HTTP/1.1 TLS connections (a data channel each), think time 0-$((2 + j % 3)) s; $IN" \
			"tw_browse $U $((sd + 4)) $((8 + j)) $((2 + j % 3)) 4 --http1.1"
		v=(100 300 1000 3000)
		[ $j -lt 4 ] && t5 5 tun-tls-put-h1-$j $TT 127.0.0.1:4443 $rb "HTTPS PUT uploads (HTTP/1.1) of 1-${v[$j]} kB; $IN" \
			"tw_put $U $((sd + 5)) $((4 + j * 2)) ${v[$j]} --http1.1"
		[ $j -lt 4 ] && t5 5 tun-tls-put-h2-$j $TT 127.0.0.1:4443 $rb "HTTPS PUT uploads (HTTP/2) of 1-${v[$((3 - j))]} kB; $IN" \
			"tw_put $U $((sd + 6)) $((4 + j * 2)) ${v[$((3 - j))]}"
		local lo=(10 40 100 300 10 1000) hi=(60 200 500 1200 1500 4000) k=$((j % 6))
		[ $j -lt 12 ] && t5 5 tun-tls-lines-$j $TT 127.0.0.1:4444 $rb "an openssl s_client session: $((50 + (j % 4) * 25)) lines of ${lo[$k]}-${hi[$k]} characters, gaps 0-0.$((2 + (j % 4) * 2)) s, each line back reversed; inside: $(openssl version | cut -d' ' -f1-2) s_client to tlsecho.py (Python ssl)" \
			"tw_lines \$LP $((sd + 7)) $((50 + (j % 4) * 25)) ${lo[$k]} ${hi[$k]} $((2 + (j % 4) * 2))"
		v=(200 500 1000 2000 3000 800)
		[ $j -lt 6 ] && t5 5 tun-tls-pipe-$j $TT 127.0.0.1:4444 $rb "${v[$j]} kB of base64 lines piped through openssl s_client to tlsecho.py and back; inside: $(openssl version | cut -d' ' -f1-2) s_client to tlsecho.py (Python ssl)" \
			"tw_pipe \$LP $((sd + 8)) ${v[$j]}"
		[ $j -lt 4 ] && t5 5 tun-tls-mixed-$j $TT 127.0.0.1:4443 $rb "page loads over HTTP/2 and then PUT uploads of 1-500 kB, twice; $IN" \
			"tw_browse $U $((sd + 9)) 4 2 1; tw_put $U $((sd + 10)) 3 500; tw_browse $U $((sd + 11)) 4 2 1; tw_put $U $((sd + 12)) 2 500"
		[ $j -lt 4 ] && t5 5 tun-http-files-$j $TH 127.0.0.1:8000 $rb "curl plain HTTP/1.1 file downloads through a data-channel TCP tunnel; inside: $CURL_V to $NGX_V" \
			"tw_files $H $((sd + 13)) $((4 + j)) $((1 + j % 4)) $((5 + j % 4))"
		[ $j -lt 5 ] && t5 5 tun-http-browse-$j $TH 127.0.0.1:8000 $rb "plain HTTP/1.1 page loads ($((1 + j % 2 * 3)) connections), think time 0-$((1 + j % 3)) s; inside: $CURL_V to $NGX_V" \
			"tw_browse $H $((sd + 14)) $((8 + j)) $((1 + j % 3)) $((1 + j % 2 * 3))"
		[ $j -lt 4 ] && t5 5 tun-http-put-$j $TH 127.0.0.1:8000 $rb "plain HTTP PUT uploads of 1-${v[$j]} kB; inside: $CURL_V to $NGX_V" \
			"tw_put $H $((sd + 15)) $((3 + j * 2)) ${v[$j]}"
		true
	}
	others() { # others J: the J-th session of each of pionpeer's own workloads
		local j=$1 sd=$((700 + $1 * 17)) c r dd sz
		local CH=(1024 2048 4096 8192 16384 32768 65535) RT=(40000 250000 1000000 0)
		# file transfers: 7 message sizes x 4 rates, 10-30 s
		for r in 0 1; do
			local q=$((j * 2 + r))
			[ $q -lt 28 ] || break
			c=${CH[$((q % 7))]} rt=${RT[$((q / 7))]} dd=$((10 + (q * 7) % 21))
			if [ "$rt" = 0 ]; then
				sz=$((c * 300 + 20000000))
				s5 file-${c}-max-$q "file transfer: $sz bytes in $c-byte messages, unthrottled (bufferedAmount flow control)" mode=bulk size=$sz chunk=$c
			else
				sz=$((rt * dd))
				s5 file-${c}-$((rt / 1000))k-$q "file transfer: $sz bytes in $c-byte messages at $((rt / 1000)) kB/s (about $dd s)" mode=bulk size=$sz chunk=$c rate=$rt
			fi
		done
		local AK=(4 8 16 2) AC=(16384 65535 4096 32768 16384 8192 65535 1024)
		rt=$((200000 + j * 100000))
		[ $j -lt 8 ] && s5 file-ack-${AC[$j]}-$j "file transfer with application-level acks: $((rt * 15)) bytes in ${AC[$j]}-byte messages at $((rt / 1000)) kB/s, an ack every ${AK[$((j % 4))]} messages (at most that many in flight)" \
			mode=bulk size=$((rt * 15)) chunk=${AC[$j]} rate=$rt ack=${AK[$((j % 4))]}
		[ $j -lt 3 ] && s5 file-unordered-$j "file transfer on an unordered channel: 3 MB in $((4096 << j))-byte messages at $((150 + j * 150)) kB/s" \
			mode=bulk size=3000000 chunk=$((4096 << j)) rate=$((150000 + j * 150000)) unordered
		local GP=(0.1 0.3 0.6 1.0) LO=(10 20 100 500 1000 40) HI=(80 300 1000 4000 16000 600)
		dd=$((20 + (j * 11) % 21))
		[ $j -lt 18 ] && s5 chat-$j "chat $dd s both ways: text of ${LO[$((j % 6))]}-${HI[$((j % 6))]} bytes (4 % binary 1-30 kB), mean gap ${GP[$((j % 4))]} s" \
			mode=chat dur=$dd gap=${GP[$((j % 4))]} msgmin=${LO[$((j % 6))]} msgmax=${HI[$((j % 6))]} seed=$sd
		local ELO=(1 50 200 1000 1 20) EHI=(100 500 1500 8000 16000 250) EG=(0.02 0.05 0.1 0.3)
		dd=$((15 + (j * 7) % 21))
		if [ $j -lt 16 ]; then
			if [ $((j % 5)) = 4 ]; then
				s5 echo-unordered-$j "echo $dd s, unordered, maxRetransmits 0: ${ELO[$((j % 6))]}-${EHI[$((j % 6))]}-byte messages, mean gap ${EG[$((j % 4))]} s" \
					mode=echo dur=$dd msgmin=${ELO[$((j % 6))]} msgmax=${EHI[$((j % 6))]} gap=${EG[$((j % 4))]} unordered maxrt=0 seed=$((sd + 1))
			else
				s5 echo-$j "echo $dd s: ${ELO[$((j % 6))]}-${EHI[$((j % 6))]}-byte messages, mean gap ${EG[$((j % 4))]} s" \
					mode=echo dur=$dd msgmin=${ELO[$((j % 6))]} msgmax=${EHI[$((j % 6))]} gap=${EG[$((j % 4))]} seed=$((sd + 1))
			fi
		fi
		local TK=(10 20 30 60) GLO=(16 32 100 200 8) GHI=(64 200 600 1200 120)
		dd=$((15 + (j * 5) % 16))
		if [ $j -lt 18 ]; then
			local rel="unordered maxrt=0" rd="unordered, maxRetransmits 0"
			[ $((j % 6)) = 3 ] && rel="unordered maxrt=2" rd="unordered, maxRetransmits 2"
			[ $((j % 6)) = 5 ] && rel="" rd="ordered, reliable"
			s5 game-${TK[$((j % 4))]}hz-$j "game-like: both ends send ${GLO[$((j % 5))]}-${GHI[$((j % 5))]}-byte state updates at ${TK[$((j % 4))]} Hz (jittered), $rd, $dd s" \
				mode=game dur=$dd tick=${TK[$((j % 4))]} msgmin=${GLO[$((j % 5))]} msgmax=${GHI[$((j % 5))]} $rel seed=$((sd + 2))
		fi
		local RG=(0.1 0.3 0.6 1.0 0.2) RC=(1024 4096 16384 65535 8192)
		dd=$((20 + (j * 9) % 21))
		[ $j -lt 14 ] && s5 reqresp-$j "request/response $dd s: 100-800-byte requests, log-normal 2 kB-2 MB answers in ${RC[$((j % 5))]}-byte messages, think time ~${RG[$((j % 5))]} s" \
			mode=reqresp dur=$dd gap=${RG[$((j % 5))]} chunk=${RC[$((j % 5))]} seed=$((sd + 3))
		true
	}
	rtunnels() { # rtunnels J: the J-th reverse tunnel of each kind
		local j=$1 sd=$((900 + $1 * 19)) rb=${RB[$((($1 + 3) % 7))]}
		local U='https://127.0.0.1:$LP' H='http://127.0.0.1:$LP'
		[ $j -lt 5 ] && r5 5 rtun-tls-files-h1-$j $TT 127.0.0.1:4443 $rb "curl HTTPS file downloads (HTTP/1.1, a connection per run); $IN" \
			"tw_files $U $sd $((4 + j)) $((1 + j % 4)) $((4 + j % 5)) --http1.1"
		[ $j -lt 4 ] && r5 5 rtun-tls-files-h2-$j $TT 127.0.0.1:4443 $rb "curl HTTPS file downloads (HTTP/2); $IN" \
			"tw_files $U $((sd + 1)) $((4 + j)) $((2 + j)) $((4 + j))"
		[ $j -lt 6 ] && r5 5 rtun-tls-browse-h1-$j $TT 127.0.0.1:4443 $rb "page loads (a page and 4-24 assets on one HTTP/1.1 keep-alive TLS connection), think time 0-$((1 + j % 4)) s; $IN" \
			"tw_browse $U $((sd + 2)) $((8 + j)) $((1 + j % 4)) 1 --http1.1"
		[ $j -lt 5 ] && r5 5 rtun-tls-browse-h2-$j $TT 127.0.0.1:4443 $rb "page loads over HTTP/2 (one TLS connection per page), think time 0-$((1 + j % 3)) s; $IN" \
			"tw_browse $U $((sd + 3)) $((8 + j)) $((1 + j % 3)) 1 --http2"
		[ $j -lt 4 ] && r5 5 rtun-tls-browse-par4-$j $TT 127.0.0.1:4443 $rb "page loads on 4 parallel HTTP/1.1 TLS connections, think time 0-$((2 + j % 3)) s; $IN" \
			"tw_browse $U $((sd + 4)) $((8 + j)) $((2 + j % 3)) 4 --http1.1"
		local lo=(40 300 10 1000 100 10) hi=(200 1200 1500 4000 500 60) k=$((j % 6))
		[ $j -lt 6 ] && r5 5 rtun-tls-lines-$j $TT 127.0.0.1:4444 $rb "an openssl s_client session: $((50 + (j % 4) * 25)) lines of ${lo[$k]}-${hi[$k]} characters, gaps 0-0.$((2 + (j % 4) * 2)) s, each line back reversed; inside: $(openssl version | cut -d' ' -f1-2) s_client to tlsecho.py (Python ssl)" \
			"tw_lines \$LP $((sd + 5)) $((50 + (j % 4) * 25)) ${lo[$k]} ${hi[$k]} $((2 + (j % 4) * 2))"
		local v=(300 1000 2000 600)
		[ $j -lt 4 ] && r5 5 rtun-tls-pipe-$j $TT 127.0.0.1:4444 $rb "${v[$j]} kB of base64 lines piped through openssl s_client to tlsecho.py and back; inside: $(openssl version | cut -d' ' -f1-2) s_client to tlsecho.py (Python ssl)" \
			"tw_pipe \$LP $((sd + 6)) ${v[$j]}"
		[ $j -lt 3 ] && r5 5 rtun-tls-mixed-$j $TT 127.0.0.1:4443 $rb "page loads over HTTP/2 and then PUT uploads of 1-500 kB, twice; $IN" \
			"tw_browse $U $((sd + 7)) 4 2 1; tw_put $U $((sd + 8)) 3 500; tw_browse $U $((sd + 9)) 4 2 1; tw_put $U $((sd + 10)) 2 500"
		[ $j -lt 3 ] && r5 5 rtun-http-files-$j $TH 127.0.0.1:8000 $rb "curl plain HTTP/1.1 file downloads; inside: $CURL_V to $NGX_V" \
			"tw_files $H $((sd + 11)) $((4 + j)) $((1 + j % 4)) $((5 + j % 4))"
		[ $j -lt 3 ] && r5 5 rtun-http-browse-$j $TH 127.0.0.1:8000 $rb "plain HTTP/1.1 page loads ($((1 + j % 2 * 3)) connections), think time 0-$((1 + j % 3)) s; inside: $CURL_V to $NGX_V" \
			"tw_browse $H $((sd + 12)) $((8 + j)) $((1 + j % 3)) $((1 + j % 2 * 3))"
		true
	}
	for j in $(seq 0 17); do tunnels $j; others $j; done
	for j in $(seq 0 5); do rtunnels $j; done
fi

if [ ${#PQ[@]} -gt 0 ] || [ ${#AQ[@]} -gt 0 ]; then
	log "WebRTC: ${#PQ[@]} pion sessions (2 at a time), ${#AQ[@]} with aiortc (one at a time)"
	run_pq &
	PQP=$!
	run_aq
	wait $PQP
fi

# set 6: pair k of SET6_PAIRS runs SET6_BATCHES captures of 40 sessions in UDP ports
# 40000 + 1000k .. + 999 (a tcpdump of that range each); seeds 6000 + 100k + batch
if want 6; then
	mkdir -p "$OUT/6"
	PM_V="$PION_V, Go's crypto/tls and net/http inside"
	set6_pair() {
		local k=$1 b lo=$((40000 + 1000 * $1)) name sd
		for b in $(seq 0 $((${SET6_BATCHES:-8} - 1))); do
			name=many-$k-$b sd=$((6000 + 100 * k + b))
			[ -n "$ONLY" ] && ! echo "$name" | grep -qE "$ONLY" && continue
			rm -f "$OUT/6/$name.sessions.tsv"
			cap_start "$OUT/6/$name.pcap" "udp and portrange $lo-$((lo + 999))"
			ip netns exec "$NS_B" "$BIN/pionmany" -role answer -sock "$OUT/6/$name.sock" -ip "$IP_B" \
				-ports "$lo-$((lo + 999))" 2>"$OUT/6/$name.answer.log" &
			local ap=$!
			ip netns exec "$NS_A" "$BIN/pionmany" -role offer -sock "$OUT/6/$name.sock" -ip "$IP_A" \
				-ports "$lo-$((lo + 999))" -n 40 -seed $sd -tsv "$OUT/6/$name.sessions.tsv" \
				2>"$OUT/6/$name.offer.log" || log "$name: the offerer failed (see $name.offer.log)"
			wait $ap
			cap_stop $CAP_PID
			rm -f "$OUT/6/$name.sock"
			printf '%s\t%s\t%s\t%s\t%s\n' 6 "$name" non-tor-webrtc-datachannel "$PM_V" \
				"40 pion data-channel sessions, workloads drawn with seed $sd (one row each in $name.sessions.tsv)" \
				>>"$OUT/captures.tsv"
			log "set 6: $name done"
		done
	}
	log "set 6: ${SET6_PAIRS:-8} pairs x ${SET6_BATCHES:-8} captures of 40 sessions"
	S6=()
	for k in $(seq ${SET6_FIRST_PAIR:-0} $((${SET6_FIRST_PAIR:-0} + ${SET6_PAIRS:-8} - 1))); do
		set6_pair "$k" &
		S6+=($!)
	done
	wait "${S6[@]}"
fi

if want 4; then
	. "$PT/web.sh"
	run_web
fi

nice $PY "$PT/manifest.py" "$OUT" >"$OUT/MANIFEST.md"
log "done: $OUT/MANIFEST.md"
