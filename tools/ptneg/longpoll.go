// A long-polling HTTPS chat/notification service (Go 1.19 net/http + crypto/tls, standard
// library only), server and client, for tools/pt_negatives.sh: non-Tor negatives for meek's
// polling items. Never run in CI.
//
//	longpoll server -addr IP:PORT -cert C -key K [-hold 20s] [-event 5s] [-err 0.1] [-seed N]
//	longpoll client -url https://IP:PORT [-dur 90s] [-h2] [-nokeepalive] [-send 10s] [-seed N]
//
// Server: GET /poll?cursor=N answers at once if there are events after N, else holds the
// request until one arrives or -hold passes (then an empty list); with probability -err it
// answers 503 instead (overload). Events come from a timer (exponential gaps, mean -event,
// JSON of 60-2500 bytes) and from POST /send. Client: polls back to back; after a 503 or a
// transport error it backs off exponentially (0.5 s doubling to 30 s, jittered) and resets on
// success; a second goroutine POSTs chat messages at exponential gaps (mean -send).
// -h2 negotiates HTTP/2 (ALPN h2), otherwise HTTP/1.1 keep-alive; -nokeepalive opens a new TLS
// connection per request (old-style XHR polling behind a proxy that closes connections).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type event struct {
	ID   int    `json:"id"`
	Kind string `json:"kind"`
	Body string `json:"body"`
	TS   int64  `json:"ts"`
}

type hub struct {
	mu     sync.Mutex
	events []event
	wake   chan struct{}
}

func (h *hub) add(kind, body string) {
	h.mu.Lock()
	h.events = append(h.events, event{len(h.events) + 1, kind, body, time.Now().UnixMilli()})
	if len(h.events) > 2000 {
		h.events = h.events[len(h.events)-1000:]
	}
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

func (h *hub) after(cur int) ([]event, int, chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []event
	last := cur
	for _, e := range h.events {
		if e.ID > cur {
			out = append(out, e)
		}
		last = e.ID
	}
	if last < cur {
		last = cur
	}
	return out, last, h.wake
}

const al = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?0123456789"

func text(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = al[r.Intn(len(al))]
	}
	return string(b)
}

func server(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "")
	cert := fs.String("cert", "", "")
	key := fs.String("key", "", "")
	hold := fs.Duration("hold", 20*time.Second, "")
	ev := fs.Duration("event", 5*time.Second, "")
	errp := fs.Float64("err", 0, "")
	seed := fs.Int64("seed", 1, "")
	fs.Parse(args)
	r := rand.New(rand.NewSource(*seed))
	var rmu sync.Mutex
	h := &hub{wake: make(chan struct{})}
	go func() {
		for {
			rmu.Lock()
			d := time.Duration(r.ExpFloat64() * float64(*ev))
			body := text(r, 60+int(r.ExpFloat64()*400)%2440)
			rmu.Unlock()
			time.Sleep(d)
			h.add("notify", body)
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/poll", func(w http.ResponseWriter, q *http.Request) {
		rmu.Lock()
		fail := r.Float64() < *errp
		rmu.Unlock()
		if fail {
			time.Sleep(50 * time.Millisecond)
			http.Error(w, `{"error":"overloaded, retry later"}`, http.StatusServiceUnavailable)
			return
		}
		cur, _ := strconv.Atoi(q.URL.Query().Get("cursor"))
		evs, last, wake := h.after(cur)
		if len(evs) == 0 {
			t := time.NewTimer(*hold)
			select {
			case <-wake:
				evs, last, _ = h.after(cur)
			case <-t.C:
			case <-q.Context().Done():
				t.Stop()
				return
			}
			t.Stop()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if evs == nil {
			evs = []event{}
		}
		json.NewEncoder(w).Encode(map[string]interface{}{"cursor": last, "events": evs})
	})
	mux.HandleFunc("/send", func(w http.ResponseWriter, q *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(q.Body, 1<<20))
		h.add("msg", string(b))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"len":%d}`, len(b))
	})
	srv := &http.Server{Addr: *addr, Handler: mux, IdleTimeout: 120 * time.Second}
	fmt.Fprintln(os.Stderr, "longpoll server on", *addr)
	if err := srv.ListenAndServeTLS(*cert, *key); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func client(args []string) {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	url := fs.String("url", "https://127.0.0.1:8443", "")
	dur := fs.Duration("dur", 90*time.Second, "")
	h2 := fs.Bool("h2", false, "")
	nka := fs.Bool("nokeepalive", false, "")
	send := fs.Duration("send", 10*time.Second, "")
	seed := fs.Int64("seed", 1, "")
	fs.Parse(args)
	r := rand.New(rand.NewSource(*seed))
	var rmu sync.Mutex
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: *h2, DisableKeepAlives: *nka, MaxIdleConnsPerHost: 2}
	if !*h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	cl := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var wg sync.WaitGroup
	if *send > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rmu.Lock()
				d := time.Duration(r.ExpFloat64() * float64(*send))
				n := 20 + r.Intn(400)
				if r.Float64() < 0.05 {
					n = 2000 + r.Intn(30000)
				}
				msg := fmt.Sprintf(`{"text":%q}`, text(r, n))
				rmu.Unlock()
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
				q, _ := http.NewRequestWithContext(ctx, "POST", *url+"/send", strings.NewReader(msg))
				q.Header.Set("Content-Type", "application/json")
				if resp, err := cl.Do(q); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	cur, polls, fails, nev := 0, 0, 0, 0
	back := 500 * time.Millisecond
	for ctx.Err() == nil {
		q, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/poll?cursor=%d&r=%d", *url, cur, polls), nil)
		polls++
		resp, err := cl.Do(q)
		ok := false
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				var v struct {
					Cursor int               `json:"cursor"`
					Events []json.RawMessage `json:"events"`
				}
				if json.Unmarshal(bytes.TrimSpace(b), &v) == nil {
					cur = v.Cursor
					nev += len(v.Events)
					ok = true
				}
			}
		}
		if ok {
			back = 500 * time.Millisecond
			continue
		}
		fails++
		rmu.Lock()
		j := time.Duration(float64(back) * (0.7 + 0.6*r.Float64()))
		rmu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(j):
		}
		if back *= 2; back > 30*time.Second {
			back = 30 * time.Second
		}
	}
	wg.Wait()
	tr.CloseIdleConnections()
	fmt.Fprintf(os.Stderr, "longpoll client: %d polls, %d failed, %d events\n", polls, fails, nev)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: longpoll server|client [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		server(os.Args[2:])
	case "client":
		client(os.Args[2:])
	default:
		os.Exit(2)
	}
}
