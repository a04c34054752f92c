# Sourced by tools/pt_negatives.sh (set 4; never run in CI): long-polling HTTPS and WebSocket
# over TLS between the namespaces, servers in ptneg-b (10.99.0.2), clients in ptneg-a.
#   Socket.IO 4 (npm; its engine.io long-polling transport, and polling upgraded to WebSocket)
#     through nginx's TLS on 10.99.0.2:8501-8504 (one port per capture), all four at once;
#   long polling: longpoll.go (Go net/http + crypto/tls) server per capture on its own port
#     (8443+i, filter "tcp port P"), clients polling with exponential back-off; up to two at once
#   WebSocket: nginx 1.22 terminates TLS on 10.99.0.2:443 and proxies /ws to ws.js's chat hub
#     (Node.js + Debian node-ws), /tun and /tun2 to ws.js tunnel servers; clients: ws.js
#     (Node's TLS) and pyws.py (Python websockets, OpenSSL); one capture at a time ("tcp port 443")
#   WebSocket tunnel with an inner TLS stream: in ptneg-a a ws.js tunclient turns each local TCP
#     connection into a wss connection to nginx /tun (-> ws.js tunserver -> an nginx TLS server on
#     127.0.0.1:4443 in ptneg-b) or /tun2 (-> openssl s_server -rev on 127.0.0.1:4444); curl and
#     openssl s_client talk TLS through it (wstunnel-like: TLS inside WebSocket inside TLS).

W=""
web_setup() {
	W=$OUT/web
	mkdir -p "$W/www" "$W/tmp"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=chat.lab.test" \
		-keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
	local s
	for s in 20000 150000 700000 3000000; do head -c $s /dev/urandom >"$W/www/f$s.bin"; done
	cat >"$W/nginx.conf" <<EOF
worker_processes 1; pid $OUT/nginx.pid; error_log $W/nginx.err;
events { worker_connections 1024; }
http {
  access_log off; client_body_temp_path $W/tmp; proxy_temp_path $W/tmp;
  map \$http_upgrade \$conn_upgrade { default upgrade; '' close; }
  server {
    listen $IP_B:443 ssl;
    ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    proxy_http_version 1.1; proxy_read_timeout 600s; proxy_send_timeout 600s;
    proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection \$conn_upgrade;
    location /ws { proxy_pass http://127.0.0.1:8080; }
    location /tun2 { proxy_pass http://127.0.0.1:8082; }
    location /tun { proxy_pass http://127.0.0.1:8081; }
    location / { root $W/www; }
  }
  server {
    listen $IP_B:8501 ssl; listen $IP_B:8502 ssl; listen $IP_B:8503 ssl; listen $IP_B:8504 ssl;
    ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    proxy_http_version 1.1; proxy_read_timeout 600s;
    proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection \$conn_upgrade;
    location /socket.io/ { proxy_pass http://127.0.0.1:8090; }
  }
  server {
    listen 127.0.0.1:4443 ssl; ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;
    root $W/www;
  }
}
EOF
	in_ns "$NS_B" nginx -c "$W/nginx.conf" || { echo "nginx failed" >&2; return 1; }
	# Socket.IO from the npm registry (not in Debian): OUT/npm
	export PTNEG_NPM=$OUT/npm
	[ -d "$PTNEG_NPM/node_modules/socket.io-client" ] ||
		(mkdir -p "$PTNEG_NPM" && cd "$PTNEG_NPM" && npm install --no-audit --no-fund socket.io@4 socket.io-client@4 >npm.log 2>&1)
	ip netns exec "$NS_B" nice node "$PT/sio.js" server 8090 2>>"$W/servers.log" &
	PIDS+=($!)
	ip netns exec "$NS_B" nice node "$PT/ws.js" server 8080 2>>"$W/servers.log" &
	PIDS+=($!)
	ip netns exec "$NS_B" nice node "$PT/ws.js" tunserver 8081 127.0.0.1 4443 2>>"$W/servers.log" &
	PIDS+=($!)
	ip netns exec "$NS_B" nice node "$PT/ws.js" tunserver 8082 127.0.0.1 4444 2>>"$W/servers.log" &
	PIDS+=($!)
	ip netns exec "$NS_B" openssl s_server -accept 127.0.0.1:4444 -cert "$W/cert.pem" -key "$W/key.pem" \
		-rev -quiet >/dev/null 2>>"$W/servers.log" &
	PIDS+=($!)
	ip netns exec "$NS_A" nice node "$PT/ws.js" tunclient 9000 "wss://$IP_B/tun" 2>>"$W/servers.log" &
	PIDS+=($!)
	ip netns exec "$NS_A" nice node "$PT/ws.js" tunclient 9001 "wss://$IP_B/tun2" 2>>"$W/servers.log" &
	PIDS+=($!)
	sleep 2
}

# webcap SET NAME LABEL PROGRAM DESC FILTER SCRIPT: capture while SCRIPT (bash, run here) runs
webcap() {
	local set=$1 name=$2 lab=$3 prog=$4 desc=$5 filt=$6 script=$7
	only "$name" || return 0
	mkdir -p "$OUT/$set"
	cap_start "$OUT/$set/$name.pcap" "$filt"
	local cp=$CAP_PID
	(eval "$script") >"$OUT/$set/$name.log" 2>&1
	cap_stop $cp
	label "$name" "$set" "$lab" "$prog" "$desc"
	log "$set/$name done"
}

# lp NAME PORT DESC SERVER_FLAGS CLIENTS...: one long-polling capture; each CLIENT is a
# flag string for one "longpoll client" (run at once, in ptneg-a)
lp() {
	local name=$1 port=$2 desc=$3 sflags=$4; shift 4
	local script="cps=; ip netns exec $NS_B $BIN/longpoll server -addr $IP_B:$port -cert $W/cert.pem -key $W/key.pem $sflags & sp=\$!; sleep 1;"
	local c
	for c in "$@"; do script+=" in_ns $NS_A nice $BIN/longpoll client -url https://$IP_B:$port $c & cps=\"\$cps \$!\";"; done
	script+=" wait \$cps; kill \$sp; wait \$sp;"
	webcap 4 "$name" non-tor-longpoll-https "longpoll.go: $GO_V net/http + crypto/tls, server and clients" \
		"$desc [server: $sflags; clients: $*]" "tcp port $port" "$script"
}

# sio NAME PORT LABEL DESC CLIENTS...: one Socket.IO capture through nginx on PORT (8501-8504);
# each CLIENT is "MODE DUR GAP SEED" for sio.js client
sio() {
	local name=$1 port=$2 lab=$3 desc=$4; shift 4
	local script="cps=;" c
	for c in "$@"; do script+=" in_ns $NS_A env NODE_TLS_REJECT_UNAUTHORIZED=0 nice node $PT/sio.js client https://$IP_B:$port $c & cps=\"\$cps \$!\";"; done
	script+=" wait \$cps"
	webcap 4 "$name" "$lab" "client and server: Socket.IO $SIO_V on $NODE_V; TLS: $NGINX_V" \
		"$desc [clients: $*]" "tcp port $port" "$script"
}

run_web() {
	web_setup || return 1
	local NODE_V NGINX_V OSSL_V PYWS_V
	NODE_V="Node.js $(node -v) + node-ws $(dpkg-query -W -f='${Version}' node-ws | cut -d+ -f1)"
	NGINX_V="nginx $(dpkg-query -W -f='${Version}' nginx-light 2>/dev/null | cut -d- -f1) ($(openssl version | cut -d' ' -f1-2))"
	OSSL_V=$(openssl version | cut -d' ' -f1-2)
	PYWS_V="Python websockets $(dpkg-query -W -f='${Version}' python3-websockets | cut -d- -f1) ($($PY -c 'import ssl; print(ssl.OPENSSL_VERSION)'))"
	local WS="wss://$IP_B/ws" L=non-tor-websocket-tls T=non-tor-wstunnel-inner-tls
	local SIO_V
	SIO_V=$(node -p "require('$PTNEG_NPM/node_modules/socket.io/package.json').version" 2>/dev/null)

	(
		sio sio-polling-90s 8501 non-tor-longpoll-https "Socket.IO chat over the engine.io long-polling transport only (held GETs, a POST per message, 25 s pings), a message every ~2 s, 90 s" "polling 90 2 71"
	) &
	local sa=$!
	(
		sio sio-polling-idle-120s 8502 non-tor-longpoll-https "Socket.IO long polling, the client sends nothing (it receives the room's notifications and others' chat), 120 s" "polling 120 0 72"
	) &
	local sb=$!
	(
		sio sio-upgrade-60s 8503 non-tor-websocket-tls "Socket.IO: polling, then upgraded to WebSocket (both on TLS), a message every ~1 s, 60 s" "upgrade 60 1 73"
	) &
	local sc=$!
	(
		sio sio-polling-3clients-90s 8504 non-tor-longpoll-https "three Socket.IO long-polling clients, 90 s" "polling 90 3 74" "polling 85 5 75" "polling 80 0 76"
	) &
	local sd=$!

	(
		lp lp-h1-90s 8443 "HTTP/1.1 keep-alive long polling (hold 20 s, events every ~5 s), one client posting chat every ~10 s, 90 s" \
			"-hold 20s -event 5s -err 0.02 -seed 51" "-dur 90s -send 10s -seed 1"
		lp lp-h2-90s 8444 "HTTP/2 long polling, one client, 90 s" \
			"-hold 20s -event 5s -err 0.02 -seed 52" "-dur 90s -h2 -send 8s -seed 2"
	) &
	local lpa=$!
	(
		lp lp-h1-3clients-90s 8445 "three HTTP/1.1 clients polling one server, 90 s" \
			"-hold 25s -event 4s -err 0.05 -seed 53" "-dur 90s -send 12s -seed 3" "-dur 85s -send 20s -seed 4" "-dur 80s -send 0 -seed 5"
		lp lp-h1-nokeepalive-90s 8446 "polling with a new TLS connection per request (keep-alive off), hold 10 s, events every ~3 s, 90 s" \
			"-hold 10s -event 3s -err 0.02 -seed 54" "-dur 90s -nokeepalive -send 15s -seed 6"
	) &
	local lpb=$!
	(
		lp lp-backoff-120s 8447 "an overloaded server (40 % 503): the client backs off 0.5 s doubling to 30 s, 120 s" \
			"-hold 15s -event 2s -err 0.4 -seed 55" "-dur 120s -send 0 -seed 7"
		lp lp-idle-120s 8448 "mostly idle holds (events every ~60 s, hold 30 s), no posts, 120 s" \
			"-hold 30s -event 60s -err 0 -seed 56" "-dur 120s -send 0 -seed 8"
		lp lp-h2-2clients-120s 8449 "two HTTP/2 clients, hold 25 s, events every ~20 s, 120 s" \
			"-hold 25s -event 20s -err 0.02 -seed 57" "-dur 120s -h2 -send 30s -seed 9" "-dur 110s -h2 -send 0 -seed 10"
	) &
	local lpc=$!

	webcap 4 ws-node-chat-90s $L "client $NODE_V; server $NGINX_V -> ws.js ($NODE_V)" \
		"chat over wss: 20-300-byte messages every ~1.5 s both ways, server notifications, 90 s" "tcp port 443" \
		"in_ns $NS_A nice node $PT/ws.js client $WS chat 90 61"
	webcap 4 ws-node-bulk-10M $L "client $NODE_V; server $NGINX_V -> ws.js" \
		"bulk over wss: 10 MB down, 3 MB up (32 KB frames), then chat to 40 s" "tcp port 443" \
		"in_ns $NS_A nice node $PT/ws.js client $WS bulk 40 62 10000000 3000000"
	webcap 4 ws-py-chat-90s $L "client $PYWS_V; server $NGINX_V -> ws.js" \
		"chat over wss (Python client, ping every 20 s), 90 s" "tcp port 443" \
		"in_ns $NS_A nice $PY $PT/pyws.py $WS chat 90 63"
	webcap 4 ws-py-bulk-5M $L "client $PYWS_V; server $NGINX_V -> ws.js" \
		"5 MB down over wss, then chat to 30 s" "tcp port 443" \
		"in_ns $NS_A nice $PY $PT/pyws.py $WS bulk 30 64 5000000"
	webcap 4 ws-4clients-90s $L "clients $NODE_V (2) and $PYWS_V (2); server $NGINX_V -> ws.js" \
		"four chat clients in one room (each sees the others' messages), 75-90 s" "tcp port 443" \
		"in_ns $NS_A nice node $PT/ws.js client $WS chat 90 65 & in_ns $NS_A nice node $PT/ws.js client $WS chat 80 66 & in_ns $NS_A nice $PY $PT/pyws.py $WS chat 85 67 & in_ns $NS_A nice $PY $PT/pyws.py $WS chat 75 68 & wait"
	webcap 4 wstun-curl-files $T "tunnel: ws.js tunclient/tunserver ($NODE_V) through $NGINX_V; inner TLS: curl ($OSSL_V) -> nginx" \
		"a WebSocket tunnel carrying inner TLS: 5 curl runs (HTTP/1.1 keep-alive, 1-4 files of 20 kB-3 MB each) through 127.0.0.1:9000 -> wss /tun -> nginx TLS on 127.0.0.1:4443; each curl run is one wss connection" "tcp port 443" \
		"for u in 'f20000 f150000' 'f3000000' 'f700000 f20000 f150000' 'f20000' 'f150000 f700000 f20000 f3000000'; do a=; for f in \$u; do a=\"\$a https://127.0.0.1:9000/\$f.bin\"; done; in_ns $NS_A curl -sk --http1.1 -o /dev/null -o /dev/null -o /dev/null -o /dev/null \$a; sleep \$((RANDOM % 4 + 1)); done"
	webcap 4 wstun-sclient-rev-60s $T "tunnel: ws.js ($NODE_V) through $NGINX_V; inner TLS: openssl s_client -> openssl s_server -rev ($OSSL_V)" \
		"a WebSocket tunnel carrying an interactive inner TLS session: a line every ~0.5-3 s for 60 s, reversed by the server" "tcp port 443" \
		"RANDOM=69; { for i in \$(seq 40); do echo \"line \$i \$(head -c \$((RANDOM % 200 + 10)) /dev/urandom | base64 -w0)\"; sleep 0.\$((RANDOM % 10)); sleep \$((RANDOM % 3)); done; } | in_ns $NS_A openssl s_client -connect 127.0.0.1:9001 -quiet -no_ign_eof"
	wait $lpa $lpb $lpc $sa $sb $sc $sd
}
