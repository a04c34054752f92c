# Sourced by tools/pt_negatives.sh: two network namespaces joined by a veth pair, as
# tools/tls_negatives.py does (MTU 1500, offloads off: Ethernet frames of wire size).
# ptneg-a 10.99.0.1 (the "client" / offerer) <-> ptneg-b 10.99.0.2 (the "server" / answerer).
NS_A=ptneg-a NS_B=ptneg-b VETH_A=ptnega VETH_B=ptnegb IP_A=10.99.0.1 IP_B=10.99.0.2

net_down() {
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	true
}

net_up() {
	net_down
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B"
	local ns dev ip
	for x in "$NS_A $VETH_A $IP_A" "$NS_B $VETH_B $IP_B"; do
		set -- $x
		ns=$1 dev=$2 ip=$3
		ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" addr add "$ip/24" dev "$dev"
		ip -n "$ns" link set "$dev" mtu 1500 up
		ip -n "$ns" link set lo up
		ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
	done
}

# in_ns NS CMD...: run CMD in NS. For a background process whose PID is kept (to kill it
# later) call "ip netns exec NS CMD &" directly: "in_ns ... &" gives the PID of a subshell.
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# cap_start FILE FILTER: tcpdump (snaplen 65535) on ptneg-a's veth; sets CAP_PID
cap_start() {
	ip netns exec "$NS_A" tcpdump -q -s 65535 -U -i "$VETH_A" -w "$1" $2 2>>"${1%.pcap}.tcpdump.log" &
	CAP_PID=$!
	sleep 1
}

cap_stop() {
	sleep 1
	kill -INT "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	true
}
