# Sourced by tools/pt_negatives.sh (set 5; never run in CI): the servers behind set 5's TCP
# tunnels over a pion data channel (pionpeer -mode tunnel) and the clients driven through
# them. Servers on ptneg-b's loopback, clients on ptneg-a's loopback (to the offerer's
# listening port), so the only traffic on the veth is the WebRTC session itself:
#   nginx (Debian's, OpenSSL) with TLS on 127.0.0.1:4443 (HTTP/1.1 and HTTP/2) and plain HTTP
#     on 127.0.0.1:8000: static files of 1 kB-8 MB, a "site" of 20 pages and 120 assets
#     (1-150 kB), and WebDAV PUT into /up/ (uploads);
#   tlsecho.py (Python ssl over OpenSSL) on 127.0.0.1:4444: each line comes back reversed.
# The same servers run on ptneg-a's loopback too (nginx with TUN/nginx-a.conf) for the reverse
# tunnels (pionpeer -rev: the answerer listens, the offerer dials), whose clients run in
# ptneg-b (CNS=ptneg-b; the default client namespace is ptneg-a).
# Clients: curl (OpenSSL) downloads, page loads (a page and its assets over one
# keep-alive connection or 4 parallel ones) with think times, PUT uploads; openssl s_client
# line sessions and bulk pipes to tlsecho.py (-nocommands: a line starting Q, R, k or K is
# data, not an s_client command).

TUN=""
tun_setup() {
	TUN=$OUT/tun
	mkdir -p "$TUN/www/up" "$TUN/www/site" "$TUN/tmp" "$TUN/client"
	chmod 1777 "$TUN/www/up" "$TUN/tmp" # nginx workers (www-data) write the uploads
	[ -f "$TUN/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=files.lab.test" \
		-keyout "$TUN/key.pem" -out "$TUN/cert.pem" 2>/dev/null
	local s i
	for s in 1000 5000 20000 60000 150000 400000 700000 1500000 3000000 8000000; do
		[ -f "$TUN/www/f$s.bin" ] || head -c $s /dev/urandom >"$TUN/www/f$s.bin"
	done
	RANDOM=5
	for i in $(seq 0 19); do
		[ -f "$TUN/www/site/p$i.html" ] || head -c $((RANDOM % 55000 + 5000)) /dev/urandom | base64 >"$TUN/www/site/p$i.html"
	done
	for i in $(seq 0 119); do # log-uniform-ish 1-150 kB
		[ -f "$TUN/www/site/a$i.bin" ] || head -c $((1000 * (1 << (RANDOM % 8)) * (RANDOM % 100 + 50) / 128)) /dev/urandom >"$TUN/www/site/a$i.bin"
	done
	cat >"$TUN/nginx.conf" <<NGX
worker_processes 1; pid $TUN/nginx.pid; error_log $TUN/nginx.err;
events { worker_connections 1024; }
http {
  access_log off; client_body_temp_path $TUN/tmp; proxy_temp_path $TUN/tmp;
  keepalive_requests 10000; client_max_body_size 0;
  server {
    listen 127.0.0.1:4443 ssl http2; listen 127.0.0.1:8000;
    ssl_certificate $TUN/cert.pem; ssl_certificate_key $TUN/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $TUN/www;
    location /up/ { dav_methods PUT; create_full_put_path on; }
  }
}
NGX
	# the tunnels listen on 34000-39999 (range + 10000): keep clients' ephemeral ports off them
	ip netns exec "$NS_A" sysctl -q -w net.ipv4.ip_local_reserved_ports=34000-39999
	ip netns exec "$NS_B" sysctl -q -w net.ipv4.ip_local_reserved_ports=34000-39999
	sed "s|pid $TUN/nginx.pid;|pid $TUN/nginx-a.pid;|" "$TUN/nginx.conf" >"$TUN/nginx-a.conf"
	in_ns "$NS_B" nginx -c "$TUN/nginx.conf" || { echo "nginx (set 5) failed" >&2; return 1; }
	in_ns "$NS_A" nginx -c "$TUN/nginx-a.conf" || { echo "nginx (set 5, ptneg-a) failed" >&2; return 1; }
	ip netns exec "$NS_B" nice $PY "$PT/tlsecho.py" 127.0.0.1 4444 "$TUN/cert.pem" "$TUN/key.pem" 2>>"$TUN/servers.log" &
	PIDS+=($!)
	ip netns exec "$NS_A" nice $PY "$PT/tlsecho.py" 127.0.0.1 4444 "$TUN/cert.pem" "$TUN/key.pem" 2>>"$TUN/servers.log" &
	PIDS+=($!)
	sleep 1
}

tun_down() {
	local f
	for f in "$TUN/nginx.pid" "$TUN/nginx-a.pid"; do [ -n "$TUN" ] && [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	true
}

TSIZES=(1000 5000 20000 60000 150000 400000 700000 1500000 3000000 8000000)
tcurl() { in_ns "${CNS:-$NS_A}" timeout 120 nice curl -sk --no-progress-meter -o /dev/null "$@"; }

# tw_files URL SEED RUNS MAXF MAXI [CURLOPTS...]: RUNS curl runs, each fetching 1-MAXF files
# (sizes TSIZES[0..MAXI]) over one connection, 0.5-3 s apart
tw_files() {
	local url=$1 r i k a; RANDOM=$2; local runs=$3 maxf=$4 maxi=$5; shift 5
	for r in $(seq "$runs"); do
		a=()
		for i in $(seq $((RANDOM % maxf + 1))); do
			k=${TSIZES[$((RANDOM % (maxi + 1)))]}; a+=(-o /dev/null "$url/f$k.bin")
		done
		tcurl "$@" "${a[@]}"
		sleep "$((RANDOM % 3)).$((RANDOM % 10))"
	done
}

# tw_browse URL SEED PAGES THINK_MAX PAR [CURLOPTS...]: page loads (a page, then 4-24 of its
# assets; PAR 1: one keep-alive connection, else curl --parallel on PAR connections), think
# time 0-THINK_MAX s (tenths)
tw_browse() {
	local url=$1 p i a; RANDOM=$2; local pages=$3 think=$4 par=$5; shift 5
	for p in $(seq "$pages"); do
		a=(-o /dev/null "$url/site/p$((RANDOM % 20)).html")
		for i in $(seq $((RANDOM % 21 + 4))); do a+=(-o /dev/null "$url/site/a$((RANDOM % 120)).bin"); done
		if [ "$par" -gt 1 ]; then tcurl --parallel --parallel-max "$par" "$@" "${a[@]}"; else tcurl "$@" "${a[@]}"; fi
		sleep "$((RANDOM % (think * 10 + 1) / 10)).$((RANDOM % 10))"
	done
}

# tw_put URL SEED N MAXKB [CURLOPTS...]: N PUT uploads of 1-MAXKB kB random files, 0-2 s apart
tw_put() {
	local url=$1 i f; RANDOM=$2; local n=$3 max=$4; shift 4
	f=$(mktemp "$TUN/client/up-XXXX")
	for i in $(seq "$n"); do
		head -c $(((RANDOM * 32768 + RANDOM) % (max * 1000) + 1000)) /dev/urandom >"$f"
		tcurl "$@" -T "$f" "$url/up/u$RANDOM.bin"
		sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	done
	rm -f "$f"
}

# tw_lines PORT SEED N MINLEN MAXLEN GAP_TENTHS: an openssl s_client session to tlsecho.py,
# N lines of MINLEN-MAXLEN characters at 0-GAP_TENTHS/10 s gaps
tw_lines() {
	local port=$1 i t; RANDOM=$2; local n=$3 lo=$4 hi=$5 gap=$6
	{
		for i in $(seq "$n"); do
			head -c $((RANDOM % (hi - lo + 1) + lo)) /dev/urandom | base64 -w0 | head -c $((RANDOM % (hi - lo + 1) + lo)); echo
			t=$((RANDOM % (gap + 1))); sleep "$((t / 10)).$((t % 10))"
		done
		sleep 2
	} | in_ns "${CNS:-$NS_A}" timeout 120 openssl s_client -connect "127.0.0.1:$port" -quiet -no_ign_eof -nocommands >/dev/null 2>&1
}

# tw_pipe PORT SEED KB: KB kB of base64 lines through s_client to tlsecho.py and back
tw_pipe() {
	local port=$1; RANDOM=$2
	{ head -c $(($3 * 750)) /dev/urandom | base64 -w $((RANDOM % 2000 + 60)); sleep 3; } |
		in_ns "${CNS:-$NS_A}" timeout 120 openssl s_client -connect "127.0.0.1:$port" -quiet -no_ign_eof -nocommands >/dev/null 2>&1
}
