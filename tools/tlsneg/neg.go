// One end of a Go crypto/tls session for tools/tls_negatives.py (Go 1.19, standard library
// only; crypto/tls sizes records dynamically: small records at a connection's start).
// usage: neg KIND ROLE IP PORT TLSVER SUITE SPEC DUR CERT KEY
//
//	KIND: tls (raw conn), https (net/http over HTTP/1.1), h2 (net/http over HTTP/2);
//	SUITE: '-' or a TLS 1.2 suite name (tls.CipherSuites); SPEC as in neg.js:
//	w SIZE PAUSE, r SIZE[,SIZE..] BODY PAUSE, o chunk N, o path b|v|sse.
package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

type wr struct {
	n int
	p float64
}
type rq struct {
	sizes []int
	body  int
	p     float64
}

var (
	W    []wr
	R    []rq
	O    = map[string]string{}
	BLOB = make([]byte, 2100000)
)

func sleep(p float64) { time.Sleep(time.Duration(p * float64(time.Second))) }

func bytesN(n int) []byte {
	if n <= len(BLOB) {
		return BLOB[:n]
	}
	b := make([]byte, n)
	for i := 0; i < n; i += len(BLOB) {
		copy(b[i:], BLOB)
	}
	return b
}

func readSpec(path string) {
	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		x := strings.Fields(sc.Text())
		if len(x) == 0 {
			continue
		}
		switch x[0] {
		case "w":
			n, _ := strconv.Atoi(x[1])
			p, _ := strconv.ParseFloat(x[2], 64)
			W = append(W, wr{n, p})
		case "r":
			var s []int
			for _, v := range strings.Split(x[1], ",") {
				n, _ := strconv.Atoi(v)
				s = append(s, n)
			}
			b, _ := strconv.Atoi(x[2])
			p, _ := strconv.ParseFloat(x[3], 64)
			R = append(R, rq{s, b, p})
		case "o":
			O[x[1]] = x[2]
		}
	}
}

func tlsConfig(ver, suite, cert, key string) *tls.Config {
	c := &tls.Config{InsecureSkipVerify: true}
	if ver == "1.2" {
		c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		if suite != "-" {
			for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
				if s.Name == suite {
					c.CipherSuites = []uint16{s.ID}
				}
			}
		}
	} else {
		c.MinVersion, c.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			panic(err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c
}

func pump(c net.Conn) {
	for _, w := range W {
		if _, err := c.Write(bytesN(w.n)); err != nil {
			return
		}
		sleep(w.p)
	}
}

func rawConn(c net.Conn, server bool) {
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(done) }()
	pump(c)
	if server {
		<-done
	} else {
		sleep(2)
		c.Close()
	}
}

var pathRe = regexp.MustCompile(`^/(b|v|sse)/?(\d*)`)
var rangeRe = regexp.MustCompile(`bytes=(\d+)-(\d+)`)

func handler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	m := pathRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		w.WriteHeader(404)
		return
	}
	fl, _ := w.(http.Flusher)
	if m[1] == "sse" {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl.Flush()
		for _, e := range W {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", bytesN(max(1, e.n-8))); err != nil {
				return
			}
			fl.Flush()
			sleep(e.p)
		}
		return
	}
	n, _ := strconv.Atoi(m[2])
	if m[1] == "v" {
		x := rangeRe.FindStringSubmatch(r.Header.Get("Range"))
		a, _ := strconv.Atoi(x[1])
		b, _ := strconv.Atoi(x[2])
		n = b - a + 1
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/400000000", a, b))
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.WriteHeader(206)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(n))
	}
	chunk, _ := strconv.Atoi(O["chunk"])
	if chunk == 0 {
		w.Write(bytesN(n))
		return
	}
	for left := n; left > 0; left -= chunk {
		w.Write(bytesN(min(chunk, left)))
		fl.Flush()
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func main() {
	a := os.Args[1:]
	kind, role, ip, port, ver, suite, spec := a[0], a[1], a[2], a[3], a[4], a[5], a[6]
	dur, _ := strconv.ParseFloat(a[7], 64)
	readSpec(spec)
	for i := range BLOB {
		BLOB[i] = byte(i*7919 + i>>8)
	}
	go func() { sleep(dur + 8); os.Exit(0) }()
	addr := net.JoinHostPort(ip, port)
	if role == "server" {
		cfg := tlsConfig(ver, suite, a[8], a[9])
		if kind == "tls" {
			l, err := tls.Listen("tcp", addr, cfg)
			if err != nil {
				panic(err)
			}
			c, err := l.Accept()
			if err == nil {
				rawConn(c, true)
			}
			return
		}
		if kind == "h2" {
			cfg.NextProtos = []string{"h2"}
		} else {
			cfg.NextProtos = []string{"http/1.1"}
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			panic(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(handler), TLSConfig: cfg,
			ConnState: func(c net.Conn, s http.ConnState) {
				if s == http.StateClosed {
					go func() { sleep(0.5); os.Exit(0) }()
				}
			}}
		if kind != "h2" { // ServeTLS would offer h2 too
			srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		}
		fmt.Fprintln(os.Stderr, srv.ServeTLS(ln, "", ""))
		return
	}
	cfg := tlsConfig(ver, suite, "", "")
	if kind == "tls" {
		var c net.Conn
		var err error
		for i := 0; i < 50; i++ {
			if c, err = tls.Dial("tcp", addr, cfg); err == nil {
				break
			}
			sleep(0.2)
		}
		if err == nil {
			rawConn(c, false)
		}
		return
	}
	tr := &http.Transport{TLSClientConfig: cfg, MaxConnsPerHost: 1, ForceAttemptHTTP2: kind == "h2"}
	if kind != "h2" {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	cl := &http.Client{Transport: tr}
	off := 0
	for _, r := range R {
		var wg sync.WaitGroup
		for _, n := range r.sizes {
			url := fmt.Sprintf("https://%s/b/%d", addr, n)
			rng := ""
			if O["path"] == "v" {
				url = fmt.Sprintf("https://%s/v/", addr)
				rng = fmt.Sprintf("bytes=%d-%d", off, off+n-1)
				off += n
			} else if O["path"] == "sse" {
				url = fmt.Sprintf("https://%s/sse/", addr)
			}
			method := "GET"
			var body io.Reader
			if r.body > 0 {
				method = "POST"
				body = strings.NewReader(string(bytesN(r.body)))
			}
			req, _ := http.NewRequest(method, url, body)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if resp, err := cl.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		sleep(r.p)
	}
	tr.CloseIdleConnections()
}
