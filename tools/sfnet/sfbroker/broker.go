// sfbroker: minimal Snowflake broker for a private test network.
//
// Speaks the wire format of common/messages from snowflake 2.5.1 (Debian
// golang-snowflake-dev): client protocol 1.0 (POST /client), proxy protocol
// 1.3 (POST /proxy, POST /answer). Matching is first-come first-served: a
// client offer is handed to the next proxy poll; the proxy's answer goes back
// to the waiting client. No NAT matching, no bridge-fingerprint routing, no
// metrics, no AMP cache. /probe answers 404 (proxies then keep NAT "unknown").
//
// Timeouts follow upstream broker defaults: a proxy poll is held up to 10 s,
// a client waits up to 10 s for a proxy and then up to 10 s for the answer.
package main

import (
	"flag"
	"io"
	"io/ioutil"
	"log"
	"net/http"
	"sync"
	"time"

	"git.torproject.org/pluggable-transports/snowflake.git/v2/common/messages"
)

const (
	proxyPollTimeout = 10 * time.Second
	clientTimeout    = 10 * time.Second
	readLimit        = 100000
)

type clientOffer struct {
	offer    string
	answerCh chan string
}

var (
	offers   = make(chan *clientOffer) // unbuffered: handed directly to a polling proxy
	mu       sync.Mutex
	sessions = map[string]chan string{} // proxy sid -> answer channel of its client
)

func readBody(r *http.Request) ([]byte, error) {
	return ioutil.ReadAll(io.LimitReader(r.Body, readLimit))
}

func proxyHandler(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	sid, ptype, nat, clients, relayPattern, _, err := messages.DecodeProxyPollRequestWithRelayPrefix(body)
	if err != nil {
		log.Printf("proxy poll: bad request: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	select {
	case co := <-offers:
		mu.Lock()
		sessions[sid] = co.answerCh
		mu.Unlock()
		b, _ := messages.EncodePollResponseWithRelayURL(co.offer, true, "unknown", "", "")
		log.Printf("proxy poll sid=%s type=%s nat=%s clients=%d pattern=%q: client match", sid, ptype, nat, clients, relayPattern)
		w.Write(b)
	case <-time.After(proxyPollTimeout):
		b, _ := messages.EncodePollResponseWithRelayURL("", false, "", "", "no match")
		w.Write(b)
	case <-r.Context().Done():
	}
}

func answerHandler(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	answer, sid, err := messages.DecodeAnswerRequest(body)
	if err != nil {
		log.Printf("answer: bad request: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	mu.Lock()
	ch, ok := sessions[sid]
	delete(sessions, sid)
	mu.Unlock()
	success := false
	if ok {
		select {
		case ch <- answer:
			success = true
		default: // client already gave up
		}
	}
	log.Printf("answer sid=%s delivered=%v", sid, success)
	b, _ := messages.EncodeAnswerResponse(success)
	w.Write(b)
}

func clientHandler(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	req, err := messages.DecodeClientPollRequest(body)
	if err != nil {
		log.Printf("client: bad request: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	co := &clientOffer{offer: req.Offer, answerCh: make(chan string, 1)}
	resp := &messages.ClientPollResponse{}
	select {
	case offers <- co:
		select {
		case a := <-co.answerCh:
			resp.Answer = a
		case <-time.After(clientTimeout):
			resp.Error = "timed out waiting for answer!"
		}
	case <-time.After(clientTimeout):
		resp.Error = "no snowflake proxies currently available"
	}
	log.Printf("client offer nat=%s fp=%s -> answered=%v err=%q", req.NAT, req.Fingerprint, resp.Answer != "", resp.Error)
	b, _ := resp.EncodePollResponse()
	w.Write(b)
}

func main() {
	addr := flag.String("addr", ":443", "listen address")
	cert := flag.String("cert", "", "TLS certificate (empty: plain HTTP)")
	key := flag.String("key", "", "TLS key")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/proxy", proxyHandler)
	mux.HandleFunc("/answer", answerHandler)
	mux.HandleFunc("/client", clientHandler)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s -> 404", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	srv := &http.Server{Addr: *addr, Handler: mux}
	log.Printf("sfbroker listening on %s (tls=%v)", *addr, *cert != "")
	if *cert != "" {
		log.Fatal(srv.ListenAndServeTLS(*cert, *key))
	}
	log.Fatal(srv.ListenAndServe())
}
