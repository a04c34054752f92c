// Many short pion/webrtc data-channel sessions between two processes, one after another,
// each with a workload drawn at random: set 6 of tools/pt_negatives.sh (non-Tor WebRTC
// data channels, the hard negatives of the Snowflake items). Never run in CI. Built as
// pionpeer.go is (Debian's pion/webrtc v3, GOPATH mode, nothing fetched).
//
// usage: pionmany -role offer|answer -sock PATH -ip ADDR -ports LO-HI -n N -seed S [-tsv FILE]
//
//	The answerer listens on the Unix socket PATH (a path in the file system, so it joins
//	the two network namespaces and its signalling is not on the wire); the offerer connects
//	and, for each of N sessions, draws a workload (seeded: -seed S gives the same draws),
//	sends it with its SDP offer, reads the answer, and both ends run their part; each end
//	then says "done" and, once both have, both close the PeerConnection. ICE host candidates
//	on -ip only, in the UDP ports -ports. The offerer is the DTLS server (pion answers as the
//	DTLS client, as a Snowflake proxy does to its client). The offerer appends one row per
//	session to -tsv: index, its UDP port, the answerer's, the workload's kind and its words.
//
//	Workloads (the sender side, offerer or answerer, drawn too):
//	  tls-*   a TLS stream (Go's crypto/tls, TLS 1.2 or 1.3) through the data channel, either
//	          one message per TLS write (-direct) or through a TCP tunnel on the loopback (one
//	          message per read of 4-64 KB, as pionpeer -mode tunnel): HTTP/1.1 or HTTP/2
//	          (Go's net/http) downloads and uploads of log-normal sizes with think times, an
//	          interactive shell-like session (short lines, output bursts), or a server push of
//	          log-normal messages (a feed);
//	  bulk    a file in messages of a common size (512 B-64 KB) at a capped rate, acks or not;
//	  msgs    both ends send messages of lo..hi bytes (lo 1-1000, the span 0-1500) at
//	          exponential gaps: chat, game ticks, telemetry;
//	  reqresp 100-800-byte requests answered by log-normal bodies in messages of a common size.
//	Sessions last 2-5 s (msgs and tls-shell 4-7 s); the sender is the offerer 3 times in 4.
//	Data channels: 1-3 (ordered or not, reliable or partly), the workload on the first.
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	mrand "math/rand"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/webrtc/v3"
)

var (
	role  = flag.String("role", "offer", "offer or answer")
	sock  = flag.String("sock", "", "Unix socket path for signalling")
	ipArg = flag.String("ip", "", "local IP for ICE host candidates")
	ports = flag.String("ports", "", "LO-HI UDP port range")
	nSess = flag.Int("n", 10, "sessions")
	seed  = flag.Int64("seed", 1, "seed of the draws")
	tsv   = flag.String("tsv", "", "offerer: append a row per session here")
)

// Work is one session's workload, drawn by the offerer.
type Work struct {
	Idx     int
	Kind    string // tls-http, tls-upload, tls-shell, tls-feed, bulk, msgs, reqresp
	Sender  string // offer or answer: who sends the bulk / serves / pushes
	Dur     float64
	Seed    int64
	TLS13   bool
	H2      bool
	Direct  bool // TLS records as messages; else a TCP tunnel on the loopback
	Rbuf    int
	Median  float64 // log-normal median size (bytes)
	Gap     float64 // mean think time / message gap (s)
	Chunk   int
	Rate    int
	Ack     int
	Lo, Hi  int
	NDC     int
	Ordered bool
	MaxRT   int
}

func (w Work) words() string {
	b, _ := json.Marshal(w)
	return string(b)
}

func logf(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s %s %s\n", time.Now().Format("15:04:05.000"), *role, fmt.Sprintf(f, a...))
}

func must(err error) {
	if err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
}

func pick(r *mrand.Rand, v ...int) int { return v[r.Intn(len(v))] }

func draw(r *mrand.Rand, i int) Work {
	w := Work{Idx: i, Seed: r.Int63(), Dur: 2 + 3*r.Float64(), NDC: 1, Ordered: true, MaxRT: -1}
	if r.Float64() < 0.2 {
		w.NDC = 2 + r.Intn(2)
	}
	if r.Float64() < 0.15 {
		w.Ordered = false
		if r.Float64() < 0.5 {
			w.MaxRT = r.Intn(4)
		}
	}
	w.Sender = "offer"
	if r.Float64() < 0.25 {
		w.Sender = "answer"
	}
	w.Gap = []float64{0.02, 0.05, 0.1, 0.3, 0.8}[r.Intn(5)]
	w.Median = math.Exp(math.Log(300) + r.Float64()*(math.Log(200000)-math.Log(300)))
	w.Chunk = pick(r, 512, 1000, 1024, 1200, 1400, 2048, 4096, 8192, 16384, 32768, 65535)
	w.Rate = pick(r, 50000, 150000, 400000, 1000000)
	switch x := r.Float64(); {
	case x < 0.55:
		w.Kind = []string{"tls-http", "tls-http", "tls-upload", "tls-shell", "tls-feed"}[r.Intn(5)]
		w.TLS13 = r.Float64() < 0.7
		w.H2 = r.Float64() < 0.5
		w.Direct = r.Float64() < 0.5
		w.Rbuf = pick(r, 4096, 8192, 16384, 32768, 65535)
	case x < 0.7:
		w.Kind = "bulk"
		if r.Float64() < 0.4 {
			w.Ack = pick(r, 4, 8, 16, 32)
		}
	case x < 0.88:
		w.Kind = "msgs"
		w.Lo = 1 + r.Intn(1000)
		w.Hi = w.Lo + r.Intn(1501)
	default:
		w.Kind = "reqresp"
	}
	if w.Kind == "msgs" || w.Kind == "tls-shell" {
		w.Dur += 2
	}
	return w
}

// ---------------------------------------------------------------- a data channel as a stream

type msgConn struct {
	rw      io.ReadWriteCloser
	dc      *webrtc.DataChannel
	buf     []byte
	pending []byte
	wmu     sync.Mutex
}

func newMsgConn(rw io.ReadWriteCloser, dc *webrtc.DataChannel) *msgConn {
	return &msgConn{rw: rw, dc: dc, buf: make([]byte, 1<<17)}
}

func (c *msgConn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		n, err := c.rw.Read(c.buf)
		if err != nil {
			return 0, err
		}
		c.pending = c.buf[:n]
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Write sends p as one message (in 65535-byte pieces if longer), after the send buffer
// drains below 1 MB.
func (c *msgConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.dc.BufferedAmount() > 1<<20 {
		time.Sleep(5 * time.Millisecond)
	}
	for off := 0; off < len(p); {
		n := len(p) - off
		if n > 65535 {
			n = 65535
		}
		if _, err := c.rw.Write(p[off : off+n]); err != nil {
			return off, err
		}
		off += n
	}
	return len(p), nil
}

func (c *msgConn) Close() error                       { return c.rw.Close() }
func (c *msgConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *msgConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *msgConn) SetDeadline(t time.Time) error      { return nil }
func (c *msgConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *msgConn) SetWriteDeadline(t time.Time) error { return nil }

// tunnel puts a TCP connection on the loopback between a stream's user and the data
// channel: the user gets one end; the other is relayed one message per read of rbuf bytes.
func tunnel(c *msgConn, rbuf int) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	user, err := net.Dial("tcp", ln.Addr().String())
	must(err)
	side, err := ln.Accept()
	must(err)
	go func() { io.Copy(side, c); side.Close() }()
	go func() {
		b := make([]byte, rbuf)
		for {
			n, err := side.Read(b)
			if n > 0 {
				if _, e := c.Write(b[:n]); e != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		c.Close()
	}()
	return user
}

// ---------------------------------------------------------------- workloads

var cert tls.Certificate

func makeCert() {
	k, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	must(err)
	t := x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peer.local"},
		DNSNames: []string{"peer.local"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(crand.Reader, &t, &t, &k.PublicKey, k)
	must(err)
	cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

func lognormal(r *mrand.Rand, median float64, max int) int {
	v := int(median * math.Exp(r.NormFloat64()))
	if v < 1 {
		v = 1
	}
	if v > max {
		v = max
	}
	return v
}

type oneListener struct {
	c    chan net.Conn
	done chan struct{}
}

func (l *oneListener) Accept() (net.Conn, error) {
	if c, ok := <-l.c; ok {
		return c, nil
	}
	<-l.done
	return nil, io.EOF
}
func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return &net.TCPAddr{} }

var junk = make([]byte, 1<<16)

// runTLS: the sender is the TLS server (downloads, shell output, feed); for tls-upload the
// sender is the TLS client. Returns when the client side is finished or the time is up.
func runTLS(w Work, c *msgConn, sender bool, end time.Time) {
	r := mrand.New(mrand.NewSource(w.Seed + map[bool]int64{true: 1}[sender]))
	var conn net.Conn = c
	if !w.Direct {
		conn = tunnel(c, w.Rbuf)
	}
	ver := uint16(tls.VersionTLS12)
	if w.TLS13 {
		ver = tls.VersionTLS13
	}
	protos := []string{"http/1.1"}
	if w.H2 {
		protos = []string{"h2", "http/1.1"}
	}
	server := sender != (w.Kind == "tls-upload")
	if server {
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: ver, MaxVersion: ver, NextProtos: protos}
		tc := tls.Server(conn, cfg)
		switch w.Kind {
		case "tls-http", "tls-upload":
			mux := http.NewServeMux()
			mux.HandleFunc("/get", func(rw http.ResponseWriter, q *http.Request) {
				n, _ := strconv.Atoi(q.URL.Query().Get("n"))
				rw.Header().Set("Content-Type", "application/octet-stream")
				for n > 0 {
					k := pick(r, 4096, 16384, 32768)
					if k > n {
						k = n
					}
					rw.Write(junk[:k])
					n -= k
				}
			})
			mux.HandleFunc("/put", func(rw http.ResponseWriter, q *http.Request) {
				n, _ := io.Copy(io.Discard, q.Body)
				fmt.Fprintf(rw, `{"stored":%d}`, n)
			})
			l := &oneListener{c: make(chan net.Conn, 1), done: make(chan struct{})}
			l.c <- tc
			close(l.c)
			srv := &http.Server{Handler: mux}
			go srv.Serve(l)
			time.Sleep(time.Until(end))
			close(l.done)
		case "tls-shell":
			go func() {
				br := bufio.NewReader(tc)
				for {
					line, err := br.ReadBytes('\n')
					if err != nil {
						return
					}
					out := lognormal(r, 300, 8000) + len(line)
					for out > 0 {
						k := 20 + r.Intn(1500)
						if k > out {
							k = out
						}
						if _, err := tc.Write(bytes.Repeat([]byte("x"), k)); err != nil {
							return
						}
						out -= k
						time.Sleep(time.Duration(r.Intn(3000)) * time.Microsecond)
					}
				}
			}()
			time.Sleep(time.Until(end))
		case "tls-feed":
			go func() {
				if err := tc.Handshake(); err != nil {
					return
				}
				for time.Now().Before(end) {
					if _, err := tc.Write(junk[:lognormal(r, w.Median/20+50, 16000)]); err != nil {
						return
					}
					time.Sleep(time.Duration(r.ExpFloat64() * w.Gap / 2 * float64(time.Second)))
				}
			}()
			io.Copy(io.Discard, tc)
		}
		tc.Close()
		return
	}
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "peer.local", MinVersion: ver, MaxVersion: ver, NextProtos: protos}
	tc := tls.Client(conn, cfg)
	switch w.Kind {
	case "tls-http", "tls-upload":
		if err := tc.Handshake(); err != nil {
			logf("tls handshake: %v", err)
			return
		}
		used := false
		tr := &http.Transport{ForceAttemptHTTP2: w.H2, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1,
			DialTLS: func(network, addr string) (net.Conn, error) {
				if used {
					return nil, fmt.Errorf("one connection only")
				}
				used = true
				return tc, nil
			}}
		cl := &http.Client{Transport: tr, Timeout: time.Until(end) + time.Second}
		for time.Now().Before(end) {
			n := lognormal(r, w.Median, 1<<20)
			var resp *http.Response
			var err error
			if w.Kind == "tls-upload" {
				resp, err = cl.Post("https://peer.local/put", "application/octet-stream", bytes.NewReader(make([]byte, n)))
			} else {
				resp, err = cl.Get("https://peer.local/get?n=" + strconv.Itoa(n))
			}
			if err != nil {
				logf("http: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			time.Sleep(time.Duration(r.ExpFloat64() * w.Gap * 4 * float64(time.Second)))
		}
	case "tls-shell":
		go io.Copy(io.Discard, tc)
		for time.Now().Before(end) {
			line := bytes.Repeat([]byte("l"), 1+r.Intn(120))
			line = append(line, '\n')
			if _, err := tc.Write(line); err != nil {
				return
			}
			time.Sleep(time.Duration(r.ExpFloat64() * (w.Gap + 0.05) * float64(time.Second)))
		}
	case "tls-feed":
		go func() { time.Sleep(time.Until(end)); tc.Close() }()
		if err := tc.Handshake(); err == nil {
			tc.Write([]byte("SUBSCRIBE\n"))
			io.Copy(io.Discard, tc)
		}
	}
}

// runRaw: bulk, msgs and reqresp straight on the data channel's messages.
func runRaw(w Work, c *msgConn, sender bool, end time.Time) {
	r := mrand.New(mrand.NewSource(w.Seed + map[bool]int64{true: 1}[sender]))
	switch w.Kind {
	case "bulk":
		if !sender {
			n := 0
			for {
				k, err := c.rw.Read(c.buf)
				if err != nil {
					return
				}
				n++
				if w.Ack > 0 && n%w.Ack == 0 && k > 0 {
					c.Write([]byte("ack"))
				}
			}
		}
		acks := make(chan struct{}, 1024)
		if w.Ack > 0 {
			go func() {
				for {
					if _, err := c.rw.Read(c.buf); err != nil {
						return
					}
					acks <- struct{}{}
				}
			}()
		}
		start := time.Now()
		sent, inflight := 0, 0
		for time.Now().Before(end) {
			if w.Ack > 0 && inflight >= w.Ack {
				select {
				case <-acks:
					inflight -= w.Ack
				case <-time.After(time.Until(end)):
				}
				continue
			}
			if _, err := c.Write(junk[:w.Chunk]); err != nil {
				return
			}
			sent += w.Chunk
			inflight++
			if ahead := time.Duration(float64(sent)/float64(w.Rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	case "msgs":
		go func() {
			for {
				if _, err := c.rw.Read(c.buf); err != nil {
					return
				}
			}
		}()
		g := w.Gap
		if !sender {
			g *= 1 + 3*r.Float64()
		}
		for time.Now().Before(end) {
			if _, err := c.Write(junk[:w.Lo+r.Intn(w.Hi-w.Lo+1)]); err != nil {
				return
			}
			time.Sleep(time.Duration(r.ExpFloat64() * g * float64(time.Second)))
		}
	case "reqresp":
		if sender { // answers
			for {
				k, err := c.rw.Read(c.buf)
				if err != nil {
					return
				}
				if k < 7 {
					continue
				}
				n, _ := strconv.Atoi(string(c.buf[:7]))
				for n > 0 {
					m := w.Chunk
					if m > n {
						m = n
					}
					if _, err := c.Write(junk[:m]); err != nil {
						return
					}
					n -= m
				}
			}
		}
		for time.Now().Before(end) {
			q := []byte(fmt.Sprintf("%07d", lognormal(r, w.Median, 1<<20)))
			q = append(q, bytes.Repeat([]byte(" "), 100+r.Intn(700))...)
			if _, err := c.Write(q); err != nil {
				return
			}
			time.Sleep(time.Duration(r.ExpFloat64() * w.Gap * 4 * float64(time.Second)))
		}
	}
}

// sideTalk: the other data channels carry a trickle of small messages both ways.
func sideTalk(c *msgConn, r *mrand.Rand, end time.Time) {
	go func() {
		for {
			if _, err := c.rw.Read(c.buf); err != nil {
				return
			}
		}
	}()
	for time.Now().Before(end) {
		time.Sleep(time.Duration(r.ExpFloat64() * 0.5 * float64(time.Second)))
		c.Write(junk[:10+r.Intn(200)])
	}
}

// ---------------------------------------------------------------- sessions

type sig struct {
	Work *Work                      `json:",omitempty"`
	SDP  *webrtc.SessionDescription `json:",omitempty"`
	Done bool                       `json:",omitempty"`
}

var api *webrtc.API

func session(enc *json.Encoder, dec *json.Decoder, w *Work, out *os.File) {
	offerer := w != nil
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	must(err)
	conns := make(chan *msgConn, 4)
	opened := func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() {
			rw, err := dc.Detach()
			must(err)
			conns <- newMsgConn(rw, dc)
		})
	}
	var m sig
	if offerer {
		for i := 0; i < w.NDC; i++ {
			init := &webrtc.DataChannelInit{}
			if i == 0 && !w.Ordered {
				f := false
				init.Ordered = &f
				if w.MaxRT >= 0 {
					k := uint16(w.MaxRT)
					init.MaxRetransmits = &k
				}
			}
			dc, err := pc.CreateDataChannel([]string{"data", "ctl", "chat"}[i], init)
			must(err)
			opened(dc)
		}
		offer, err := pc.CreateOffer(nil)
		must(err)
		g := webrtc.GatheringCompletePromise(pc)
		must(pc.SetLocalDescription(offer))
		<-g
		must(enc.Encode(sig{Work: w, SDP: pc.LocalDescription()}))
		must(dec.Decode(&m))
		must(pc.SetRemoteDescription(*m.SDP))
	} else {
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				os.Exit(0)
			}
			must(err)
		}
		w = m.Work
		pc.OnDataChannel(opened)
		must(pc.SetRemoteDescription(*m.SDP))
		ans, err := pc.CreateAnswer(nil)
		must(err)
		g := webrtc.GatheringCompletePromise(pc)
		must(pc.SetLocalDescription(ans))
		<-g
		must(enc.Encode(sig{SDP: pc.LocalDescription()}))
	}
	// the data channels in the offerer's order: labels sort them
	got := map[string]*msgConn{}
	to := time.After(20 * time.Second)
	for len(got) < w.NDC {
		select {
		case c := <-conns:
			got[c.dc.Label()] = c
		case <-to:
			logf("session %d: %d of %d data channels open", w.Idx, len(got), w.NDC)
			w.NDC = -1
		}
		if w.NDC < 0 {
			break
		}
	}
	if w.NDC > 0 {
		end := time.Now().Add(time.Duration(w.Dur * float64(time.Second)))
		sender := (w.Sender == "offer") == offerer
		r := mrand.New(mrand.NewSource(w.Seed + 7))
		for _, l := range []string{"ctl", "chat"} {
			if c := got[l]; c != nil {
				go sideTalk(c, r, end)
			}
		}
		// every part runs in the background (a receiver blocks in Read until the data
		// channel closes); both ends stop sending at their own end and then say done
		go func(w Work, c *msgConn) {
			if w.Kind[:3] == "tls" {
				runTLS(w, c, sender, end)
			} else {
				runRaw(w, c, sender, end)
			}
		}(*w, got["data"])
		time.Sleep(time.Until(end) + 500*time.Millisecond)
	}
	if offerer && out != nil {
		lp, rp := 0, 0
		if p, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err == nil && p != nil {
			lp, rp = int(p.Local.Port), int(p.Remote.Port)
		}
		fmt.Fprintf(out, "%d\t%d\t%d\t%s\t%s\n", w.Idx, lp, rp, w.Kind, w.words())
	}
	must(enc.Encode(sig{Done: true}))
	for {
		var d sig
		must(dec.Decode(&d))
		if d.Done {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	pc.Close()
}

func main() {
	flag.Parse()
	makeCert()
	se := webrtc.SettingEngine{}
	se.DetachDataChannels()
	if *ipArg != "" {
		want := net.ParseIP(*ipArg)
		se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(want) })
	}
	if *ports != "" {
		var lo, hi uint16
		_, err := fmt.Sscanf(*ports, "%d-%d", &lo, &hi)
		must(err)
		must(se.SetEphemeralUDPPortRange(lo, hi))
	}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api = webrtc.NewAPI(webrtc.WithSettingEngine(se))
	var c net.Conn
	var err error
	if *role == "answer" {
		os.Remove(*sock)
		ln, err := net.Listen("unix", *sock)
		must(err)
		c, err = ln.Accept()
		must(err)
	} else {
		for i := 0; i < 100; i++ {
			if c, err = net.Dial("unix", *sock); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		must(err)
	}
	enc, dec := json.NewEncoder(c), json.NewDecoder(bufio.NewReader(c))
	var out *os.File
	if *role == "offer" && *tsv != "" {
		out, err = os.OpenFile(*tsv, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0644)
		must(err)
	}
	r := mrand.New(mrand.NewSource(*seed))
	for i := 0; *role == "answer" || i < *nSess; i++ {
		if *role == "offer" {
			w := draw(r, i)
			logf("session %d: %s", i, w.words())
			session(enc, dec, &w, out)
		} else {
			session(enc, dec, nil, nil)
		}
	}
	c.Close()
}
