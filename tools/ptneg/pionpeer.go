// One WebRTC peer built on pion/webrtc v3 (Debian's golang-github-pion-webrtc.v3-dev,
// 3.1.56: the library Snowflake uses), for tools/pt_negatives.sh: non-Tor WebRTC traffic.
// Never run in CI. Build (Debian's way, nothing fetched):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o pionpeer pionpeer.go
//
// usage: pionpeer -role offer|answer -sig DIR -ip ADDR -mode MODE [options]
//
//	signalling: the offerer writes DIR/offer.json (after ICE gathering), the answerer
//	  DIR/answer.json (plain files: no signalling traffic on the wire);
//	MODE (both ends give the same one):
//	  bulk   the offerer sends -size bytes in -chunk messages (flow controlled by
//	         bufferedAmount; -rate B/s caps it, 0 = as fast as SCTP goes); the answerer
//	         replies "done" with the count, then both close;
//	  chat   both ends send 20-300-byte text messages at exponential gaps (mean -gap s),
//	         now and then a 1-30 KB one, for -dur s;
//	  echo   the offerer sends messages of 1-(-chunk) bytes at gaps of mean -gap s, the
//	         answerer echoes each one back, for -dur s;
//	  reqresp  tunnel-like browsing: the offerer sends 100-800-byte requests naming a size
//	         (log-normal, 2 kB-2 MB), the answerer answers with that many bytes in -chunk
//	         messages; think time between requests exponential (mean -gap s), for -dur s;
//	  game   both ends send small binary state updates (-msgmin..-msgmax bytes) at -tick Hz
//	         with jitter, for -dur s (give -unordered -maxrt 0 for a game's lossy channel);
//	  tunnel a TCP tunnel: the offerer listens on -listen (TCP, in its namespace) and gives
//	         each accepted connection a data channel of its own ("tcp-N"), relaying the
//	         connection's bytes one message per read (reads of up to -rbuf bytes); the
//	         answerer dials -target for each such channel and relays back the same way. A
//	         "ctl" channel opens first; the offerer then writes DIR/ready and runs until
//	         DIR/stop appears (or -dur + 120 s); with -rev the roles swap: the answerer
//	         listens (and writes DIR/ready), the offerer dials;
//	  media  a call: each end sends a VP8 video track (TrackLocalStaticSample: pion
//	         packetizes synthetic frames, play-from-disk style, 30 fps at about -rate B/s,
//	         a keyframe every 3 s) and an Opus audio track (TrackLocalStaticRTP: raw RTP
//	         packets of 20 ms, 60-160 bytes) for -dur s (the answerer's media only
//	         with -bidir); -dc adds a chat data channel beside the media.
//	-msgmin/-msgmax: chat's text and echo's messages are -msgmin..-msgmax bytes when given;
//	-ack N (bulk): the answerer acknowledges every N messages and the offerer keeps at most
//	  N unacknowledged (a file-transfer app's own flow control);
//	-ports LO-HI keeps ICE in a port range (one tcpdump filter per session);
//	-unordered / -maxrt N make the data channel unordered / partially reliable.
package main

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	mrand "math/rand"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"io"
	"strings"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
)

var (
	role      = flag.String("role", "offer", "offer or answer")
	sigDir    = flag.String("sig", ".", "signalling directory")
	ipAddr    = flag.String("ip", "", "local IP for ICE host candidates")
	mode      = flag.String("mode", "bulk", "bulk, chat, echo, reqresp, game, tunnel, media")
	size      = flag.Int("size", 4<<20, "bulk: bytes to send")
	chunk     = flag.Int("chunk", 16384, "bulk: message size; echo: max message size")
	rate      = flag.Int("rate", 0, "bulk: bytes/s cap (0 none); media: video bytes/s")
	dur       = flag.Float64("dur", 60, "chat/echo/media: seconds")
	gap       = flag.Float64("gap", 1.0, "chat/echo: mean gap between messages, s")
	seed      = flag.Int64("seed", 1, "random seed for sizes and timing")
	unordered = flag.Bool("unordered", false, "unordered data channel")
	maxrt     = flag.Int("maxrt", -1, "max retransmits (partially reliable) if >= 0")
	bidir     = flag.Bool("bidir", false, "media: the answerer sends media too")
	withDC    = flag.Bool("dc", false, "media: also a chat data channel")
	label     = flag.String("label", "data", "data channel label")
	ports     = flag.String("ports", "", "LO-HI: the UDP port range ICE may use")
	msgMin    = flag.Int("msgmin", 0, "chat/echo/game: smallest message (0: the mode's default)")
	msgMax    = flag.Int("msgmax", 0, "chat/echo/game: largest message (0: the mode's default)")
	ackEvery  = flag.Int("ack", 0, "bulk: the answerer acks every N messages, at most N in flight")
	tick      = flag.Float64("tick", 20, "game: updates per second")
	listen    = flag.String("listen", "127.0.0.1:9000", "tunnel (offerer): TCP address to listen on")
	target    = flag.String("target", "127.0.0.1:4443", "tunnel (answerer): TCP address to dial")
	rbuf      = flag.Int("rbuf", 16384, "tunnel: TCP read size (one message per read), max 65535")
	rev       = flag.Bool("rev", false, "tunnel: the answerer listens (-listen) and the offerer dials (-target)")
)

var rng *mrand.Rand
var rngMu sync.Mutex

func rint(lo, hi int) int { rngMu.Lock(); defer rngMu.Unlock(); return lo + rng.Intn(hi-lo+1) }
func rexp(mean float64) time.Duration {
	rngMu.Lock()
	defer rngMu.Unlock()
	return time.Duration(rng.ExpFloat64() * mean * float64(time.Second))
}
func rfloat() float64 { rngMu.Lock(); defer rngMu.Unlock(); return rng.Float64() }

func logf(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s %s %s\n", time.Now().Format("15:04:05.000"), *role, fmt.Sprintf(f, a...))
}

func must(err error) {
	if err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
}

func randBytes(n int) []byte { b := make([]byte, n); rand.Read(b); return b }

func textMsg(n int) string {
	const al = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = al[rint(0, len(al)-1)]
	}
	return `{"type":"msg","text":"` + string(b) + `"}`
}

func writeJSON(name string, v interface{}) {
	b, _ := json.Marshal(v)
	tmp := filepath.Join(*sigDir, name+".tmp")
	must(os.WriteFile(tmp, b, 0644))
	must(os.Rename(tmp, filepath.Join(*sigDir, name)))
}

func readJSON(name string, v interface{}) {
	p := filepath.Join(*sigDir, name)
	for i := 0; ; i++ {
		if b, err := os.ReadFile(p); err == nil {
			must(json.Unmarshal(b, v))
			return
		}
		if i > 600 {
			must(fmt.Errorf("no %s after 60 s", p))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var done = make(chan struct{})
var acked int64
var ackCh = make(chan struct{}, 1)
var respDone = make(chan struct{}, 1)
var doneOnce sync.Once

func finish() { doneOnce.Do(func() { close(done) }) }

// chat: small text both ways, sometimes a larger binary blob (a pasted image).
func runChat(dc *webrtc.DataChannel, d time.Duration) {
	end := time.Now().Add(d)
	n := 0
	for time.Now().Before(end) {
		time.Sleep(rexp(*gap))
		if dc.ReadyState() != webrtc.DataChannelStateOpen {
			break
		}
		if rfloat() < 0.04 {
			must(dc.Send(randBytes(rint(1000, 30000))))
		} else {
			lo, hi := 20, 300
			if *msgMax > 0 {
				lo, hi = *msgMin, *msgMax
			}
			must(dc.SendText(textMsg(rint(lo, hi))))
		}
		n++
	}
	logf("chat sent %d messages", n)
}

func setupDC(dc *webrtc.DataChannel, offerer bool) {
	var got int64
	var msgs int64
	dc.OnOpen(func() {
		logf("data channel %q open (id %d)", dc.Label(), *dc.ID())
		switch *mode {
		case "bulk":
			if offerer {
				go func() {
					dc.SetBufferedAmountLowThreshold(uint64(4 * *chunk))
					low := make(chan struct{}, 1)
					dc.OnBufferedAmountLow(func() {
						select {
						case low <- struct{}{}:
						default:
						}
					})
					start := time.Now()
					sent, nmsg := 0, 0
					buf := randBytes(*chunk)
					for sent < *size {
						n := *chunk
						if *size-sent < n {
							n = *size - sent
						}
						for dc.BufferedAmount() > uint64(16**chunk+1<<20) {
							select {
							case <-low:
							case <-time.After(100 * time.Millisecond):
							}
						}
						if *ackEvery > 0 && nmsg-int(atomic.LoadInt64(&acked)) >= *ackEvery {
							select {
							case <-ackCh:
							case <-time.After(10 * time.Second):
							}
							continue
						}
						buf[0] = byte(sent)
						must(dc.Send(buf[:n]))
						nmsg++
						sent += n
						if *rate > 0 {
							want := time.Duration(float64(sent) / float64(*rate) * float64(time.Second))
							if el := time.Since(start); el < want {
								time.Sleep(want - el)
							}
						}
					}
					logf("bulk sent %d bytes in %.1f s", sent, time.Since(start).Seconds())
				}()
			}
		case "chat":
			go func() { runChat(dc, time.Duration(*dur*float64(time.Second))); time.Sleep(2 * time.Second); finish() }()
		case "echo":
			if offerer {
				go func() {
					end := time.Now().Add(time.Duration(*dur * float64(time.Second)))
					for time.Now().Before(end) && dc.ReadyState() == webrtc.DataChannelStateOpen {
						lo, hi := 1, *chunk
						if *msgMax > 0 {
							lo, hi = *msgMin, *msgMax
						}
						must(dc.Send(randBytes(rint(lo, hi))))
						time.Sleep(rexp(*gap))
					}
					time.Sleep(2 * time.Second)
					finish()
				}()
			}
		case "reqresp":
			if offerer {
				go func() {
					end := time.Now().Add(time.Duration(*dur * float64(time.Second)))
					n := 0
					for time.Now().Before(end) && dc.ReadyState() == webrtc.DataChannelStateOpen {
						rngMu.Lock()
						want := int(math.Exp(rng.NormFloat64()*1.3 + 10.5))
						rngMu.Unlock()
						if want < 2000 {
							want = 2000
						} else if want > 2000000 {
							want = 2000000
						}
						req := fmt.Sprintf("GET %d %s", want, textMsg(rint(80, 780)))
						must(dc.SendText(req))
						n++
						// wait for the answer (the answerer ends it with a text "end")
						select {
						case <-respDone:
						case <-time.After(30 * time.Second):
						}
						time.Sleep(rexp(*gap))
					}
					logf("reqresp: %d requests", n)
					time.Sleep(time.Second)
					finish()
				}()
			}
		case "game":
			go func() {
				lo, hi := 16, 200
				if *msgMax > 0 {
					lo, hi = *msgMin, *msgMax
				}
				end := time.Now().Add(time.Duration(*dur * float64(time.Second)))
				period := time.Duration(float64(time.Second) / *tick)
				n := 0
				for time.Now().Before(end) && dc.ReadyState() == webrtc.DataChannelStateOpen {
					if dc.BufferedAmount() < 1<<20 {
						b := randBytes(rint(lo, hi))
						b[0] = byte(n)
						_ = dc.Send(b)
						n++
					}
					time.Sleep(period/2 + time.Duration(rfloat()*float64(period)))
				}
				logf("game sent %d updates", n)
				time.Sleep(2 * time.Second)
				finish()
			}()
		case "tunnel":
			if offerer != *rev {
				go tunnelListen()
			}
		case "media":
			go runChat(dc, time.Duration(*dur*float64(time.Second)))
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		atomic.AddInt64(&msgs, 1)
		t := atomic.AddInt64(&got, int64(len(m.Data)))
		switch *mode {
		case "bulk":
			if *ackEvery > 0 && !offerer && int(atomic.LoadInt64(&msgs))%*ackEvery == 0 && t < int64(*size) {
				_ = dc.SendText(fmt.Sprintf("ack %d", atomic.LoadInt64(&msgs)))
			} else if *ackEvery > 0 && offerer && m.IsString && strings.HasPrefix(string(m.Data), "ack ") {
				var k int64
				fmt.Sscanf(string(m.Data), "ack %d", &k)
				atomic.StoreInt64(&acked, k)
				select {
				case ackCh <- struct{}{}:
				default:
				}
				return
			}
			if !offerer && t >= int64(*size) {
				logf("bulk received %d bytes", t)
				_ = dc.SendText(fmt.Sprintf("done %d", t))
				go func() { time.Sleep(1 * time.Second); finish() }()
			} else if offerer && m.IsString {
				logf("peer says %s", m.Data)
				finish()
			}
		case "echo":
			if !offerer {
				_ = dc.Send(m.Data)
			}
		case "reqresp":
			if !offerer && m.IsString {
				var want int
				fmt.Sscanf(string(m.Data), "GET %d", &want)
				go func() {
					buf := randBytes(*chunk)
					for left := want; left > 0; left -= *chunk {
						for dc.BufferedAmount() > 1<<20 {
							time.Sleep(5 * time.Millisecond)
						}
						n := *chunk
						if left < n {
							n = left
						}
						if dc.Send(buf[:n]) != nil {
							return
						}
					}
					_ = dc.SendText("end")
				}()
			} else if offerer && m.IsString && string(m.Data) == "end" {
				select {
				case respDone <- struct{}{}:
				default:
				}
			}
		}
	})
	dc.OnClose(func() {
		logf("data channel closed: %d messages, %d bytes in", atomic.LoadInt64(&msgs), atomic.LoadInt64(&got))
		finish()
	})
}

// tunnel: one data channel per TCP connection, one message per read.
var tunPC *webrtc.PeerConnection

// relay copies conn <-> dc until either side ends; conn may arrive later (the answerer
// dials when the channel opens), so messages queue until then.
type relay struct {
	dc    *webrtc.DataChannel
	in    chan []byte
	connc chan net.Conn
}

func newRelay(dc *webrtc.DataChannel) *relay {
	r := &relay{dc: dc, in: make(chan []byte, 4096), connc: make(chan net.Conn, 1)}
	dc.OnMessage(func(m webrtc.DataChannelMessage) { r.in <- m.Data })
	dc.OnClose(func() { close(r.in) })
	return r
}

func (r *relay) run(c net.Conn) {
	go func() { // data channel -> TCP
		for b := range r.in {
			if _, err := c.Write(b); err != nil {
				break
			}
		}
		c.Close()
	}()
	n := *rbuf
	if n > 65535 {
		n = 65535
	}
	buf := make([]byte, n)
	var up int64
	for { // TCP -> data channel, one message per read
		k, err := c.Read(buf)
		if k > 0 {
			for r.dc.BufferedAmount() > 1<<20 {
				time.Sleep(5 * time.Millisecond)
			}
			if r.dc.Send(append([]byte(nil), buf[:k]...)) != nil {
				break
			}
			up += int64(k)
		}
		if err != nil {
			if err != io.EOF {
				logf("tunnel %s read: %v", r.dc.Label(), err)
			}
			break
		}
	}
	for i := 0; i < 200 && r.dc.BufferedAmount() > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	logf("tunnel %s: %d bytes sent", r.dc.Label(), up)
	r.dc.Close()
}

func tunnelListen() {
	ln, err := net.Listen("tcp", *listen)
	must(err)
	writeJSON("ready", map[string]string{"listen": *listen})
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(*sigDir, "stop")); err == nil {
				logf("stop")
				ln.Close()
				finish()
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	for i := 1; ; i++ {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		dc, err := tunPC.CreateDataChannel(fmt.Sprintf("tcp-%d", i), nil)
		must(err)
		r := newRelay(dc)
		dc.OnOpen(func() { go r.run(c) })
	}
}

func tunnelDial(dc *webrtc.DataChannel) {
	r := newRelay(dc)
	dc.OnOpen(func() {
		go func() {
			c, err := net.Dial("tcp", *target)
			if err != nil {
				logf("tunnel dial %s: %v", *target, err)
				dc.Close()
				return
			}
			r.run(c)
		}()
	})
}

// media: synthetic VP8 frames through pion's packetizer, raw Opus-sized RTP for audio.
func addMedia(pc *webrtc.PeerConnection) (func(), error) {
	vt, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "ptneg-"+*role)
	if err != nil {
		return nil, err
	}
	at, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "ptneg-"+*role)
	if err != nil {
		return nil, err
	}
	for _, t := range []webrtc.TrackLocal{vt, at} {
		s, err := pc.AddTrack(t)
		if err != nil {
			return nil, err
		}
		go func() { // read RTCP (needed for the interceptors)
			b := make([]byte, 1500)
			for {
				if _, _, err := s.Read(b); err != nil {
					return
				}
			}
		}()
	}
	start := func() {
		end := time.Now().Add(time.Duration(*dur * float64(time.Second)))
		vrate := *rate
		if vrate <= 0 {
			vrate = 60000
		}
		go func() {
			tk := time.NewTicker(time.Second / 30)
			defer tk.Stop()
			for i := 0; time.Now().Before(end); i++ {
				<-tk.C
				n := vrate / 30 * rint(60, 140) / 100
				if i%90 == 0 {
					n *= 6 // keyframe
				}
				f := randBytes(n)
				if i%90 == 0 {
					f[0] &^= 1 // VP8 frame tag: key frame bit 0
				} else {
					f[0] |= 1
				}
				if err := vt.WriteSample(media.Sample{Data: f, Duration: time.Second / 30}); err != nil {
					return
				}
			}
			finish()
		}()
		go func() {
			tk := time.NewTicker(20 * time.Millisecond)
			defer tk.Stop()
			seq := uint16(rint(0, 65535))
			ts := uint32(rint(0, 1<<30))
			ssrc := uint32(rint(1, 1<<31))
			for time.Now().Before(end) {
				<-tk.C
				p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: false},
					Payload: randBytes(rint(60, 160))}
				seq++
				ts += 960
				if err := at.WriteRTP(p); err != nil {
					return
				}
			}
		}()
	}
	return start, nil
}

func main() {
	flag.Parse()
	rng = mrand.New(mrand.NewSource(*seed*2 + map[string]int64{"offer": 0, "answer": 1}[*role]))
	offerer := *role == "offer"

	se := webrtc.SettingEngine{}
	if *ipAddr != "" {
		want := net.ParseIP(*ipAddr)
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
	me := &webrtc.MediaEngine{}
	must(me.RegisterDefaultCodecs())
	ir := &interceptor.Registry{}
	must(webrtc.RegisterDefaultInterceptors(me, ir)) // NACK, RTCP reports, TWCC: as NewPeerConnection
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	must(err)
	tunPC = pc
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		logf("ICE %s", s)
		if s == webrtc.ICEConnectionStateFailed || s == webrtc.ICEConnectionStateClosed {
			finish()
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		logf("track %s %s", t.Kind(), t.Codec().MimeType)
		go func() {
			b := make([]byte, 1500)
			for {
				if _, _, err := t.Read(b); err != nil {
					return
				}
			}
		}()
	})

	var startMedia func()
	dcInit := &webrtc.DataChannelInit{}
	if *unordered {
		f := false
		dcInit.Ordered = &f
	}
	if *maxrt >= 0 {
		m := uint16(*maxrt)
		dcInit.MaxRetransmits = &m
	}
	if *mode == "media" && (offerer || *bidir) {
		startMedia, err = addMedia(pc)
		must(err)
	}
	if offerer {
		if *mode == "tunnel" && *rev {
			pc.OnDataChannel(func(dc *webrtc.DataChannel) { tunnelDial(dc) })
		}
		if *mode != "media" || *withDC {
			lab := *label
			if *mode == "tunnel" {
				lab = "ctl"
			}
			dc, err := pc.CreateDataChannel(lab, dcInit)
			must(err)
			setupDC(dc, true)
		}
		offer, err := pc.CreateOffer(nil)
		must(err)
		g := webrtc.GatheringCompletePromise(pc)
		must(pc.SetLocalDescription(offer))
		<-g
		writeJSON("offer.json", pc.LocalDescription())
		var ans webrtc.SessionDescription
		readJSON("answer.json", &ans)
		must(pc.SetRemoteDescription(ans))
	} else {
		pc.OnDataChannel(func(dc *webrtc.DataChannel) {
			if *mode == "tunnel" && strings.HasPrefix(dc.Label(), "tcp-") {
				tunnelDial(dc)
			} else {
				setupDC(dc, false)
			}
		})
		var off webrtc.SessionDescription
		readJSON("offer.json", &off)
		must(pc.SetRemoteDescription(off))
		ans, err := pc.CreateAnswer(nil)
		must(err)
		g := webrtc.GatheringCompletePromise(pc)
		must(pc.SetLocalDescription(ans))
		<-g
		writeJSON("answer.json", pc.LocalDescription())
	}
	if startMedia != nil {
		connected := make(chan struct{})
		var once sync.Once
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			logf("PC %s", s)
			if s == webrtc.PeerConnectionStateConnected {
				once.Do(func() { close(connected) })
			}
			if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
				finish()
			}
		})
		go func() { <-connected; startMedia() }()
	}
	limit := time.Duration(*dur+120) * time.Second
	if *mode == "bulk" {
		limit = 600 * time.Second
	}
	select {
	case <-done:
	case <-time.After(limit):
		logf("timeout")
	}
	time.Sleep(500 * time.Millisecond)
	must(pc.Close())
	logf("closed")
}
