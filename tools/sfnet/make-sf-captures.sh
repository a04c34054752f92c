#!/bin/bash
# make-sf-captures.sh -- one Snowflake session in a private Tor test network
# built in Linux network namespaces (layout taken from
# ../shared/tools/tornet/make-captures.sh: 3 directory authorities, guards,
# middle, exits, an unlisted bridge, a client, a web/DNS server), plus a
# Snowflake broker (sfbroker, our own), a STUN server (coturn), two standalone
# snowflake-proxy instances (Debian 2.5.1) and a Snowflake server (sfserver,
# our own) in front of the bridge's ORPort. The client's tor uses only
# "Bridge snowflake ..." through Debian's snowflake-client 2.5.1.
#
# Usage: make-sf-captures.sh -o OUTDIR [-d DURATION_S] [-s SEED] [-k KILL_AT_S] [-u UTLS] [-n] [-K]
#   -o OUTDIR   output folder
#   -d SECONDS  traffic phase after bootstrap (default 90)
#   -s SEED     seed of the traffic mix / ORPort choice (default 1)
#   -k SECONDS  stop the proxy in use this many seconds into the traffic phase
#               (client must move to the other proxy); 0 = never (default 0)
#   -u NAME     utls-imitate value for the client's rendezvous ("" = Go TLS;
#               default hellorandomizedalpn, as in snowflake-s1)
#   -n          no ice= on the client's Bridge line (client gathers host
#               candidates only: no STUN, NAT type "unknown"); proxies keep STUN
#   -K          keep the scratch dir /tmp/sfnew-work
# Environment: TORNET_NET (default 10.66.0), TORRATE / DIRECTRATE (400K / 1M),
#   SFBIN (dir with sfbroker, sfserver; default <this dir>/bin).
# Needs root; Debian packages tor, snowflake-client, snowflake-proxy, coturn,
# tcpdump, curl, openssl, ethtool, dnsmasq-base, bind9-dnsutils, python3-dpkt.
set -u
set -o pipefail

OUT=""; DUR=90; SEED=1; KILLAT=0; UTLS=hellorandomizedalpn; KEEP=0; NOICE=0
while getopts "o:d:s:k:u:nKh" opt; do
  case $opt in
    o) OUT=$OPTARG ;; d) DUR=$OPTARG ;; s) SEED=$OPTARG ;; k) KILLAT=$OPTARG ;;
    u) UTLS=$OPTARG ;; n) NOICE=1 ;; K) KEEP=1 ;; *) sed -n '2,26p' "$0"; exit 2 ;;
  esac
done
[ -n "$OUT" ] || { sed -n '2,26p' "$0"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "must run as root"; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
SFBIN=${SFBIN:-$HERE/bin}
PY=/usr/bin/python3
W=/tmp/sfnew-work
P=sfn-
NET=${TORNET_NET:-10.66.0}
T0=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - T0 )) "$*"; }
for b in tor tcpdump curl openssl ethtool dnsmasq dig turnserver snowflake-client snowflake-proxy $SFBIN/sfbroker $SFBIN/sfserver; do
  command -v $b >/dev/null || { echo "missing $b"; exit 2; }
done
TORRATE=${TORRATE:-400K}; DIRECTRATE=${DIRECTRATE:-1M}
RANDOM=$SEED
rnd() { R=$(( RANDOM % $1 )); }

# ------------------------------------------------------------------ node table
NGUARD=2; NMIDDLE=1; NEXIT=2
W_TORHTTP=3; W_TORHTTPS=3; W_HTTPS=1; W_HTTP=1; W_DNS=2
NAMES=(); IPS=(); ROLES=(); ORPORTS=(); DIRPORTS=()
add_node() { NAMES+=("$1"); IPS+=("$2"); ROLES+=("$3"); ORPORTS+=("$4"); DIRPORTS+=("$5"); }
for i in 1 2 3; do add_node auth$i $NET.$((10+i)) dirauth 9001 9030; done
ORCHOICES=(9001 9001 9001 443 443 8443 9002 9100)
n=0
for r in guard middle exit; do
  case $r in guard) c=$NGUARD;; middle) c=$NMIDDLE;; exit) c=$NEXIT;; esac
  for ((j=1; j<=c; j++)); do
    n=$((n+1)); rnd ${#ORCHOICES[@]}
    add_node ${r}$j $NET.$((20+n)) $r ${ORCHOICES[$R]} 0
  done
done
NPUB=${#NAMES[@]}
BRIDGE_NAME=bridge1; BRIDGE_IP=$NET.50; SF_PORT=443
rnd ${#ORCHOICES[@]}; BRIDGE_OR=${ORCHOICES[$R]}
[ $BRIDGE_OR = $SF_PORT ] && BRIDGE_OR=9001      # 443 is the snowflake server's WebSocket port
add_node $BRIDGE_NAME $BRIDGE_IP bridge $BRIDGE_OR 0
NNODES=${#NAMES[@]}
CLIENT_IP=$NET.100; SRV_IP=$NET.200
BROKER_IP=$NET.60; STUN_IP=$NET.70; STUN_ALT_IP=$NET.71; PROXY1_IP=$NET.81; PROXY2_IP=$NET.82

# ------------------------------------------------------------------ cleanup
PIDS=()
our_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P" || true; }
kill_ns_procs() {
  local ns pid
  for ns in $(our_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -"$1" "$pid" 2>/dev/null; done
  done
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  kill_ns_procs TERM
  for _ in $(seq 10); do
    [ -z "$(for ns in $(our_namespaces); do ip netns pids "$ns"; done)" ] && break; sleep 0.5
  done
  kill_ns_procs KILL
  for _ in $(seq 10); do
    [ -z "$(for ns in $(our_namespaces); do ip netns pids "$ns"; done)" ] && break; sleep 0.2
  done
  for ns in $(our_namespaces); do ip netns del "$ns" 2>/dev/null; done
  [ $KEEP = 1 ] || rm -rf "$W"
  log "cleaned up (rc=$rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$(our_namespaces)" ]; then
  log "removing leftover namespaces: $(our_namespaces | tr '\n' ' ')"
  kill_ns_procs TERM; sleep 1; kill_ns_procs KILL
  for ns in $(our_namespaces); do ip netns del "$ns"; done
fi
rm -rf "$W"; mkdir -p "$W/logs" "$OUT"
rm -rf "$OUT"/*.pcap "$OUT"/*.csv "$OUT"/logs "$OUT"/torrc "$OUT"/summary.txt "$OUT"/README.txt

# ------------------------------------------------------------------ namespaces
log "seed=$SEED duration=${DUR}s kill_at=${KILLAT}s utls=${UTLS:-none} client_ice=$([ $NOICE = 1 ] && echo none || echo stun) net=$NET.0/24 out=$OUT"
ip netns add ${P}br
ip -n ${P}br link set lo up
ip netns exec ${P}br sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
ip -n ${P}br link add br0 type bridge
ip -n ${P}br link set br0 type bridge stp_state 0 forward_delay 0
ip -n ${P}br link set br0 up
nsi=0
mk_host() {   # mk_host NSNAME IP [IP2]
  local ns=$1 ip=$2 port
  nsi=$((nsi+1)); port=p$nsi
  ip netns add "$ns"
  ip link add name "$port" netns ${P}br type veth peer name eth0 netns "$ns"
  ip -n ${P}br link set "$port" master br0
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
  ip -n "$ns" addr add "$ip/24" dev eth0
  [ $# -ge 3 ] && ip -n "$ns" addr add "$3/24" dev eth0
  ip -n "$ns" link set eth0 mtu 1500 up
  ip -n ${P}br link set "$port" mtu 1500 up
  ip netns exec "$ns"   ethtool -K eth0   tx off rx off tso off gso off gro off >/dev/null 2>&1
  ip netns exec ${P}br ethtool -K "$port" tx off rx off tso off gso off gro off >/dev/null 2>&1
}
for ((i=0; i<NNODES; i++)); do mk_host ${P}${NAMES[$i]} ${IPS[$i]}; done
mk_host ${P}client $CLIENT_IP
mk_host ${P}srv $SRV_IP
mk_host ${P}broker $BROKER_IP
mk_host ${P}stun $STUN_IP $STUN_ALT_IP
mk_host ${P}proxy1 $PROXY1_IP
mk_host ${P}proxy2 $PROXY2_IP
ip netns exec ${P}br ethtool -K br0 tx off tso off gso off gro off >/dev/null 2>&1
log "namespaces up: $(our_namespaces | wc -l)"

# ------------------------------------------------------------------ PKI, web, DNS
S=$W/srv; mkdir -p $S/www/files $S/pki
SIZES_K=(16 64 128 256 512 1024 2048)
for k in "${SIZES_K[@]}"; do head -c $((k*1024)) /dev/urandom > $S/www/files/f${k}k.bin; done
printf '<html><head><title>corp intranet</title></head><body><h1>It works</h1></body></html>\n' > $S/www/index.html
(
  cd $S/pki
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 365 \
    -subj "/C=US/O=Corp Test CA/CN=Corp Test Root CA" >/dev/null 2>&1
  for h in www.corp.test:srv broker.corp.test:broker snowflake.corp.test:sfserver; do
    cn=${h%%:*}; f=${h##*:}
    openssl req -newkey rsa:2048 -nodes -keyout $f.key -out $f.csr -subj "/C=US/O=Corp/CN=$cn" >/dev/null 2>&1
    printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$cn" > $f.ext
    openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
      -extfile $f.ext -out $f.crt >/dev/null 2>&1
  done
)
CA=$S/pki/ca.pem
cat > $S/httpd.py <<'EOF'
import functools, http.server, ssl, sys
addr, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.22.1"; sys_version = ""
httpd = http.server.ThreadingHTTPServer((addr, port), functools.partial(H, directory=root))
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    ctx.set_alpn_protocols(["http/1.1"])
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
EOF
bg() {  # bg LOGFILE NS cmd...
  local lf=$1 ns=$2; shift 2
  ip netns exec "$ns" "$@" >"$lf" 2>&1 &
  PIDS+=($!); disown $!
}
# Run a command with /etc/resolv.conf -> dnsmasq on srv, in a private mount
# namespace (nothing on the host changes).
echo "nameserver $SRV_IP" > $W/resolv.conf
withdns() { unshare -m --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' $W/resolv.conf "$@"; }
bg $W/logs/http80.log   ${P}srv $PY $S/httpd.py $SRV_IP 80 $S/www
bg $W/logs/https443.log ${P}srv $PY $S/httpd.py $SRV_IP 443 $S/www $S/pki/srv.crt $S/pki/srv.key
bg $W/logs/dnsmasq.log  ${P}srv dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
   --listen-address=$SRV_IP --bind-interfaces --port=53 --user=root --group=root --pid-file=$W/dnsmasq.pid \
   --log-queries --log-facility=- \
   --address=/broker.corp.test/$BROKER_IP --address=/stun.corp.test/$STUN_IP \
   --address=/snowflake.corp.test/$BRIDGE_IP \
   --address=/corp.test/$SRV_IP --host-record=mail.corp.test,$NET.202 --txt-record=corp.test,"v=spf1 -all" \
   --mx-host=corp.test,mail.corp.test,10 --address=/#/

# ------------------------------------------------------------------ tor keys + torrcs
TD=$W/tor; mkdir -p $TD
DIRAUTH_LINES=""; FPRS=()
for ((i=0; i<NNODES; i++)); do
  d=$TD/${NAMES[$i]}; mkdir -p $d/keys; chmod 700 $d
  if [ "${ROLES[$i]}" = dirauth ]; then
    echo "" | tor-gencert --create-identity-key --passphrase-fd 0 -i $d/keys/authority_identity_key \
      -s $d/keys/authority_signing_key -c $d/keys/authority_certificate -m 12 \
      -a ${IPS[$i]}:${DIRPORTS[$i]} >/dev/null 2>&1 || { log "tor-gencert failed"; exit 1; }
  fi
  fp=$(tor --ignore-missing-torrc -f /dev/null --orport 1 --datadirectory $d --list-fingerprint 2>/dev/null \
       | tail -1 | awk '{ $1=""; gsub(/ /,""); print }')
  [[ $fp =~ ^[0-9A-F]{40}$ ]] || { log "fingerprint failed for ${NAMES[$i]}: $fp"; exit 1; }
  FPRS+=("$fp")
  if [ "${ROLES[$i]}" = dirauth ]; then
    v3=$(awk '/^fingerprint/{print $2}' $d/keys/authority_certificate)
    DIRAUTH_LINES+="DirAuthority ${NAMES[$i]} orport=${ORPORTS[$i]} no-v2 v3ident=$v3 ${IPS[$i]}:${DIRPORTS[$i]} $fp"$'\n'
  fi
done
GUARD_FPS=$(for ((i=0;i<NNODES;i++)); do [ "${ROLES[$i]}" = guard ] && echo -n "${FPRS[$i]},"; done); GUARD_FPS=${GUARD_FPS%,}
EXIT_FPS=$(for ((i=0;i<NNODES;i++)); do [ "${ROLES[$i]}" = exit ] && echo -n "${FPRS[$i]},"; done); EXIT_FPS=${EXIT_FPS%,}
common_torrc() {
  cat <<EOF
TestingTorNetwork 1
DataDirectory $2
Nickname $1
RunAsDaemon 0
Sandbox 0
SafeLogging 0
LogTimeGranularity 1
Log notice file $2/notice.log
Log info file $2/info.log
ShutdownWaitLength 1
PathsNeededToBuildCircuits 0.67
V3AuthNIntervalsValid 2
ClientUseIPv6 0
${DIRAUTH_LINES}
EOF
}
HOSTS=$W/hosts.csv
echo "ip,name,role,orport,dirport,fingerprint,transport,transport_port" > $HOSTS
for ((i=0; i<NNODES; i++)); do
  d=$TD/${NAMES[$i]}
  {
    common_torrc ${NAMES[$i]} $d
    cat <<EOF
SocksPort 0
Address ${IPS[$i]}
ORPort ${ORPORTS[$i]}
ContactInfo ${NAMES[$i]} <ops@corp.test>
AssumeReachable 1
ServerDNSDetectHijacking 0
ServerDNSTestAddresses
EOF
    if [ "${ROLES[$i]}" = dirauth ]; then
      cat <<EOF
DirPort ${DIRPORTS[$i]}
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
TestingV3AuthInitialVotingInterval 20
TestingV3AuthInitialVoteDelay 4
TestingV3AuthInitialDistDelay 4
V3AuthVotingInterval 20
V3AuthVoteDelay 4
V3AuthDistDelay 4
TestingMinExitFlagThreshold 0
TestingDirAuthVoteGuard $GUARD_FPS
TestingDirAuthVoteGuardIsStrict 1
TestingDirAuthVoteExit $EXIT_FPS
TestingDirAuthVoteExitIsStrict 1
TestingDirAuthVoteHSDir *
AuthDirVoteStableGuaranteeMinUptime 0
AuthDirVoteStableGuaranteeMTBF 0
EOF
    fi
    if [ "${ROLES[$i]}" = bridge ]; then
      printf 'BridgeRelay 1\nPublishServerDescriptor 0\nBridgeDistribution none\n'
    fi
    if [ "${ROLES[$i]}" = exit ]; then
      echo "nameserver $SRV_IP" > $d/resolv.conf
      cat <<EOF
ExitRelay 1
ExitPolicyRejectPrivate 0
ExitPolicy accept $NET.0/24:*
ExitPolicy accept *:80
ExitPolicy accept *:443
ExitPolicy reject *:*
ServerDNSResolvConfFile $d/resolv.conf
ServerDNSAllowNonRFC953Hostnames 1
EOF
    else
      echo "ExitRelay 0"; echo "ExitPolicy reject *:*"; echo "ServerDNSResolvConfFile /dev/null"
    fi
  } > $d/torrc
  tr=","; [ "${ROLES[$i]}" = bridge ] && tr="snowflake,$SF_PORT"
  echo "${IPS[$i]},${NAMES[$i]},${ROLES[$i]},${ORPORTS[$i]},${DIRPORTS[$i]},${FPRS[$i]},$tr" >> $HOSTS
  [ "${ROLES[$i]}" = bridge ] && BRIDGE_FP=${FPRS[$i]}
done
CD=$TD/client; mkdir -p $CD; chmod 700 $CD
{ common_torrc client $CD; echo "SocksPort 127.0.0.1:9050 IsolateSOCKSAuth"; echo "ControlPort 0"; } > $CD/torrc
cat >> $HOSTS <<EOF
$CLIENT_IP,client,tor-client,0,0,,,
$SRV_IP,srv,server,0,0,,,
$BROKER_IP,broker,snowflake-broker,0,0,,,
$STUN_IP,stun,stun-server,0,0,,,
$STUN_ALT_IP,stun-alt,stun-server,0,0,,,
$PROXY1_IP,proxy1,snowflake-proxy,0,0,,,
$PROXY2_IP,proxy2,snowflake-proxy,0,0,,,
EOF

# ------------------------------------------------------------------ start the network
for ((i=0; i<NNODES; i++)); do
  bg $TD/${NAMES[$i]}/stdout.log ${P}${NAMES[$i]} nice tor -f $TD/${NAMES[$i]}/torrc
done
TCPD=()
cap() { # cap NS IFACE FILE
  ip netns exec "$1" tcpdump -i "$2" -s 65535 -U -n -Z root -w "$3" >$W/logs/tcpdump-$(basename $3).log 2>&1 &
  TCPD+=($!); PIDS+=($!)
}
log "started $NNODES tor relays/authorities; waiting for a consensus"
A1=$TD/auth1
ok=0
for ((t=0; t<180; t++)); do
  if [ -s $A1/cached-microdesc-consensus ]; then
    nr=$(grep -c '^r ' $A1/cached-microdesc-consensus)
    ne=$(grep -c '^s .*Exit' $A1/cached-microdesc-consensus)
    ng=$(grep -c '^s .*Guard' $A1/cached-microdesc-consensus)
    ns_=$(grep -c '^s .*Stable' $A1/cached-microdesc-consensus)
    if [ "$nr" -ge "$NPUB" ] && [ "$ne" -ge "$NEXIT" ] && [ "$ng" -ge "$NGUARD" ] && [ "$ns_" -ge "$NPUB" ]; then ok=1; break; fi
    if [ $t -ge 120 ] && [ "$ne" -ge 1 ] && [ "$ng" -ge 1 ]; then ok=1; log "WARNING: consensus incomplete"; break; fi
  fi
  sleep 1
done
[ $ok = 1 ] || { log "no complete consensus after 180s"; tail -5 $A1/notice.log; exit 1; }
log "consensus ready: $nr relays, $ng Guard, $ne Exit, $ns_ Stable"
sleep 3
BD=$TD/$BRIDGE_NAME
ok=0
for ((t=0; t<120; t++)); do grep -q 'Bootstrapped 100%' $BD/notice.log 2>/dev/null && { ok=1; break; }; sleep 1; done
[ $ok = 1 ] || { log "bridge not ready"; tail -5 $BD/notice.log; exit 1; }

# ------------------------------------------------------------------ snowflake infrastructure
bg $W/logs/sfserver.log ${P}$BRIDGE_NAME nice $SFBIN/sfserver -addr $BRIDGE_IP:$SF_PORT \
   -cert $S/pki/sfserver.crt -key $S/pki/sfserver.key -orport $BRIDGE_IP:$BRIDGE_OR
bg $W/logs/sfbroker.log ${P}broker nice $SFBIN/sfbroker -addr $BROKER_IP:443 \
   -cert $S/pki/broker.crt -key $S/pki/broker.key
bg $W/logs/coturn.log ${P}stun turnserver -n --stun-only --no-cli --no-tls --no-dtls \
   --listening-ip $STUN_IP --listening-ip $STUN_ALT_IP --listening-port 3478 --alt-listening-port 3479 \
   --log-file stdout --simple-log --pidfile $W/coturn.pid --userdb $W/coturn.db
sleep 1
for px in proxy1 proxy2; do
  cap ${P}$px eth0 $OUT/$px.pcap
  bg $W/logs/$px.log ${P}$px env SSL_CERT_FILE=$CA nice unshare -m --propagation private sh -c \
     'mount --bind "$0" /etc/resolv.conf && exec "$@"' $W/resolv.conf \
     snowflake-proxy -broker https://broker.corp.test/ -stun stun:stun.corp.test:3478 \
     -relay wss://snowflake.corp.test/ -allowed-relay-hostname-pattern 'corp.test$' \
     -keep-local-addresses -unsafe-logging -verbose -nat-retest-interval 0
  eval "${px^^}_PID=${PIDS[-1]}"
done
sleep 3
BRIDGE_LINE="snowflake 192.0.2.3:80 $BRIDGE_FP fingerprint=$BRIDGE_FP url=https://broker.corp.test/"
[ $NOICE = 1 ] || BRIDGE_LINE+=" ice=stun:stun.corp.test:3478"
[ -n "$UTLS" ] && BRIDGE_LINE+=" utls-imitate=$UTLS"
{
  echo "UseBridges 1"
  echo "ClientTransportPlugin snowflake exec /usr/bin/snowflake-client -keep-local-addresses -unsafe-logging -log $CD/snowflake-client.log"
  echo "Bridge $BRIDGE_LINE"
} >> $CD/torrc
log "snowflake infrastructure up; Bridge $BRIDGE_LINE"

# ------------------------------------------------------------------ client
cap ${P}client eth0 $OUT/client.pcap
sleep 1
TC0=$(date +%s)
bg $CD/stdout.log ${P}client env SSL_CERT_FILE=$CA unshare -m --propagation private sh -c \
   'mount --bind "$0" /etc/resolv.conf && exec "$@"' $W/resolv.conf nice tor -f $CD/torrc
ok=0
for ((t=0; t<180; t++)); do
  grep -q 'Bootstrapped 100%' $CD/notice.log 2>/dev/null && { ok=1; break; }
  sleep 1
done
BOOT_S=$(( $(date +%s) - TC0 ))
if [ $ok != 1 ]; then
  log "client did not bootstrap"; tail -5 $CD/notice.log; tail -20 $CD/snowflake-client.log
  mkdir -p $OUT/logs; cp $W/logs/*.log $CD/notice.log $CD/snowflake-client.log $OUT/logs/ 2>/dev/null; exit 1
fi
log "client bootstrapped in ${BOOT_S}s"

# ------------------------------------------------------------------ traffic mix
C="ip netns exec ${P}client"
CURL="curl -s -o /dev/null --max-time 60"
EVLOG=$W/events.csv; echo "t_start,worker,kind,detail,rc" > $EVLOG
one_event() {
  local w=$1 kind=$2 k rc detail ts iso names types nm ty
  rnd ${#SIZES_K[@]}; k=${SIZES_K[$R]}
  rnd 4; iso=$R
  names=(www.corp.test mail.corp.test corp.test intranet.corp.test wiki.corp.test)
  types=(A A A MX TXT AAAA)
  rnd ${#names[@]}; nm=${names[$R]}; rnd ${#types[@]}; ty=${types[$R]}
  ts=$(date +%s.%N)
  case $kind in
    tor-http)  detail="http://www.corp.test/files/f${k}k.bin via socks"
               $C $CURL --limit-rate $TORRATE --socks5-hostname 127.0.0.1:9050 --proxy-user "w$w:$iso" http://www.corp.test/files/f${k}k.bin; rc=$? ;;
    tor-https) detail="https://www.corp.test/files/f${k}k.bin via socks"
               $C $CURL --limit-rate $TORRATE --cacert $CA --socks5-hostname 127.0.0.1:9050 --proxy-user "w$w:$iso" https://www.corp.test/files/f${k}k.bin; rc=$? ;;
    https)     detail="https://www.corp.test/files/f${k}k.bin"
               $C $CURL --limit-rate $DIRECTRATE --cacert $CA --resolve www.corp.test:443:$SRV_IP https://www.corp.test/files/f${k}k.bin; rc=$? ;;
    http)      detail="http://www.corp.test/ + files/f${k}k.bin"
               $C $CURL --limit-rate $DIRECTRATE --resolve www.corp.test:80:$SRV_IP http://www.corp.test/ http://www.corp.test/files/f${k}k.bin -o /dev/null; rc=$? ;;
    dns)       detail="dig $ty $nm"
               $C dig @$SRV_IP +tries=1 +time=3 $nm $ty >/dev/null; rc=$? ;;
  esac
  echo "$ts,$w,$kind,\"$detail\",$rc" >> $EVLOG
}
pick_kind() {
  local kinds=(tor-http tor-https https http dns)
  local ws=($W_TORHTTP $W_TORHTTPS $W_HTTPS $W_HTTP $W_DNS)
  local tot=0 x i; for x in "${ws[@]}"; do tot=$((tot+x)); done
  rnd $tot; x=$R
  for i in "${!kinds[@]}"; do x=$((x-ws[i])); [ $x -lt 0 ] && { KIND=${kinds[$i]}; return; }; done
}
worker() {
  RANDOM=$((SEED*1000 + $1))
  local n=0
  while [ $(date +%s) -lt $2 ] && [ $n -lt 500 ]; do
    pick_kind; one_event $1 $KIND; n=$((n+1))
    rnd 3; a=$R; rnd 9; sleep $a.$((R+1))
  done
}
TSTART=$(date +%s)
END=$(( TSTART + DUR ))
log "traffic phase: ${DUR}s, 3 workers"
WK=()
for wid in 1 2 3; do worker $wid $END & WK+=($!); PIDS+=($!); done
KILLNOTE="no proxy stopped"
if [ "$KILLAT" -gt 0 ]; then
  sleep $KILLAT
  # the proxy in use is the one whose log shows a relay connection
  victim=""
  for px in proxy1 proxy2; do grep -q 'connected to relay' $W/logs/$px.log && victim=$px; done
  if [ -n "$victim" ]; then
    vpid=$(eval echo \$${victim^^}_PID)
    # bg PID is "ip netns exec"; it execs, so the PID is the env/unshare/sh/exec chain -> snowflake-proxy
    kill -TERM $vpid 2>/dev/null
    KILLNOTE="snowflake proxy stopped: $victim (pid $vpid) at $(date -u +%H:%M:%S) = traffic phase +${KILLAT}s"
  else
    KILLNOTE="kill requested at +${KILLAT}s but no proxy had a relay connection"
  fi
  log "$KILLNOTE"
fi
for p in "${WK[@]}"; do wait $p; done
log "traffic done: $(($(wc -l < $EVLOG)-1)) actions ($(awk -F, 'NR>1 && $NF!=0' $EVLOG | wc -l) non-zero rc)"

# ------------------------------------------------------------------ stop + collect
sleep 2
for p in "${TCPD[@]}"; do kill -INT $p 2>/dev/null; done
for p in "${TCPD[@]}"; do wait $p 2>/dev/null; done
mkdir -p $OUT/logs $OUT/torrc
cp $HOSTS $OUT/hosts.csv
cp $EVLOG $OUT/events.csv
cp $W/logs/*.log $OUT/logs/ 2>/dev/null
cp $CD/notice.log $OUT/logs/client-notice.log
cp $CD/snowflake-client.log $OUT/logs/ 2>/dev/null
cp $BD/notice.log $OUT/logs/bridge1-notice.log
for ((i=0; i<NNODES; i++)); do cp $TD/${NAMES[$i]}/torrc $OUT/torrc/${NAMES[$i]}.torrc; done
cp $CD/torrc $OUT/torrc/client.torrc
cp $CA $OUT/corp-test-ca.pem
echo "Bridge $BRIDGE_LINE" > $OUT/bridge-line.txt
log "labelling flows"
: > $OUT/summary.txt
for pc in $OUT/client.pcap $OUT/proxy1.pcap $OUT/proxy2.pcap; do
  $PY $HERE/sf_label_flows.py $OUT/hosts.csv $pc ${pc%.pcap}.flows.csv >> $OUT/summary.txt
done
{
  echo "seed=$SEED duration=$DUR TORRATE=$TORRATE DIRECTRATE=$DIRECTRATE client_bootstrap_s=$BOOT_S total_run_s=$(( $(date +%s) - T0 )) net=$NET.0/24"
  echo "tor: $(tor --version | head -1); snowflake-client/-proxy $(dpkg-query -W -f '${Version}' snowflake-client)/$(dpkg-query -W -f '${Version}' snowflake-proxy); coturn $(dpkg-query -W -f '${Version}' coturn)"
  echo "traffic: $(($(wc -l < $EVLOG)-1)) client actions; per kind ok/total: $(awk -F, 'NR>1{t[$3]++; if($NF==0)o[$3]++} END{for(k in t) printf "%s %d/%d  ", k, o[k], t[k]}' $EVLOG)"
  echo "Bridge $BRIDGE_LINE"
  echo "$KILLNOTE"
  grep 'Bootstrapped' $CD/notice.log | tail -2
} >> $OUT/summary.txt
log "done; outputs in $OUT"
cat $OUT/summary.txt
