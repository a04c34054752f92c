// sfserver: minimal Snowflake server (bridge side) for a private test network.
//
// Follows upstream snowflake server/lib (http.go, snowflake.go) in turbotunnel
// mode, written against Debian's golang-snowflake-dev 2.5.1 common packages:
//
//	WebSocket from a proxy (gorilla/websocket via common/websocketconn)
//	-> 8-byte turbotunnel.Token, 8-byte ClientID
//	-> stream of common/encapsulation packets, fed to a QueuePacketConn keyed
//	   by ClientID
//	-> kcp.ServeConn (no crypto, no FEC; stream mode, window 65535, nc=1)
//	-> smux v2 server (KeepAliveTimeout 10 min, MaxStreamBuffer 1 MiB)
//	-> each smux stream is dialled to the bridge's ORPort (plain TCP) and
//	   copied both ways.
//
// Differences from upstream: no pt.DialOr / ExtORPort (so the bridge does not
// learn the client IP), no Let's Encrypt (TLS cert from files), no legacy
// one-session-per-WebSocket mode, a single KCP instance, no metrics.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/encapsulation"
	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/turbotunnel"
	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/websocketconn"
	"github.com/gorilla/websocket"
	"github.com/xtaci/kcp-go/v5"
	"github.com/xtaci/smux"
)

const (
	windowSize       = 65535
	streamSize       = 1048576
	clientMapTimeout = 1 * time.Minute
)

var (
	orAddr   string
	upgrader = websocket.Upgrader{CheckOrigin: func(r *http.Request) bool { return true }}
)

type dummyAddr struct{}

func (dummyAddr) Network() string { return "dummy" }
func (dummyAddr) String() string  { return "dummy" }

// copyPacketConn fixes a buffer-ownership bug: Debian 2.5.1's
// QueuePacketConn.WriteTo keeps p without copying ("takes ownership"), but
// kcp-go returns p to its xmitBuf pool right after WriteTo, so queued
// downstream packets get overwritten (seen as TLS errors on the Tor link).
// Upstream snowflake later made WriteTo copy; we copy here.
type copyPacketConn struct{ *turbotunnel.QueuePacketConn }

func (c copyPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	buf := make([]byte, len(p))
	copy(buf, p)
	return c.QueuePacketConn.WriteTo(buf, addr)
}

type handler struct{ pconn *turbotunnel.QueuePacketConn }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		log.Printf("upgrade: %v", err)
		return
	}
	conn := websocketconn.New(ws)
	defer conn.Close()
	log.Printf("websocket from %s client_ip=%s", r.RemoteAddr, r.URL.Query().Get("client_ip"))

	var token [len(turbotunnel.Token)]byte
	if _, err := io.ReadFull(conn, token[:]); err != nil {
		log.Printf("reading token: %v", err)
		return
	}
	if !bytes.Equal(token[:], turbotunnel.Token[:]) {
		log.Printf("no turbotunnel token: legacy one-shot mode not supported")
		return
	}
	var clientID turbotunnel.ClientID
	if _, err := io.ReadFull(conn, clientID[:]); err != nil {
		log.Printf("reading ClientID: %v", err)
		return
	}
	log.Printf("turbotunnel ClientID %s", clientID)

	done := make(chan struct{})
	errCh := make(chan error, 2)
	go func() {
		for {
			p, err := encapsulation.ReadData(conn)
			if err != nil {
				errCh <- err
				return
			}
			h.pconn.QueueIncoming(p, clientID)
		}
	}()
	go func() {
		bw := bufio.NewWriterSize(conn, windowSize)
		for {
			select {
			case <-done:
				errCh <- nil
				return
			case p, ok := <-h.pconn.OutgoingQueue(clientID):
				if !ok {
					errCh <- nil
					return
				}
				_, err := encapsulation.WriteData(bw, p)
				if err == nil {
					err = bw.Flush()
				}
				if err != nil {
					errCh <- err
					return
				}
			}
		}
	}()
	err = <-errCh
	close(done)
	log.Printf("websocket for %s ended: %v", clientID, err)
}

func acceptSessions(ln *kcp.Listener) {
	for {
		conn, err := ln.AcceptKCP()
		if err != nil {
			log.Printf("AcceptKCP: %v", err)
			return
		}
		conn.SetStreamMode(true)
		conn.SetWindowSize(windowSize, windowSize)
		conn.SetNoDelay(0, 0, 0, 1)
		go acceptStreams(conn)
	}
}

func acceptStreams(conn *kcp.UDPSession) {
	defer conn.Close()
	cfg := smux.DefaultConfig()
	cfg.Version = 2
	cfg.KeepAliveTimeout = 10 * time.Minute
	cfg.MaxStreamBuffer = streamSize
	sess, err := smux.Server(conn, cfg)
	if err != nil {
		log.Printf("smux.Server: %v", err)
		return
	}
	log.Printf("KCP session from %s", conn.RemoteAddr())
	for {
		stream, err := sess.AcceptStream()
		if err != nil {
			log.Printf("AcceptStream: %v", err)
			return
		}
		go handleStream(stream)
	}
}

func handleStream(stream *smux.Stream) {
	defer stream.Close()
	or, err := net.Dial("tcp", orAddr)
	if err != nil {
		log.Printf("dial ORPort %s: %v", orAddr, err)
		return
	}
	defer or.Close()
	log.Printf("smux stream %d -> ORPort %s", stream.ID(), orAddr)
	var once sync.Once
	done := make(chan struct{})
	cp := func(dst io.Writer, src io.Reader) {
		io.Copy(dst, src)
		once.Do(func() { close(done) })
	}
	go cp(or, stream)
	go cp(stream, or)
	<-done
	log.Printf("smux stream %d closed", stream.ID())
}

func main() {
	addr := flag.String("addr", ":443", "WebSocket listen address")
	cert := flag.String("cert", "", "TLS certificate (empty: plain ws)")
	key := flag.String("key", "", "TLS key")
	flag.StringVar(&orAddr, "orport", "127.0.0.1:9001", "bridge ORPort to dial for each smux stream")
	flag.Parse()

	pconn := turbotunnel.NewQueuePacketConn(dummyAddr{}, clientMapTimeout)
	ln, err := kcp.ServeConn(nil, 0, 0, copyPacketConn{pconn})
	if err != nil {
		log.Fatalf("kcp.ServeConn: %v", err)
	}
	ln.SetReadBuffer(windowSize)
	ln.SetWriteBuffer(windowSize)
	go acceptSessions(ln)

	srv := &http.Server{Addr: *addr, Handler: &handler{pconn: pconn}}
	log.Printf("sfserver listening on %s (tls=%v), ORPort %s", *addr, *cert != "", orAddr)
	if *cert != "" {
		log.Fatal(srv.ListenAndServeTLS(*cert, *key))
	}
	log.Fatal(srv.ListenAndServe())
}
