#!/usr/bin/python3
"""One WebRTC peer built on GStreamer's webrtcbin (Debian 12: GStreamer 1.22, libnice ICE, the
dtls plugin over OpenSSL, libsrtp2, usrsctp for data channels: the SCTP stack browsers use),
for tools/pt_negatives.sh. Never run in CI.

usage: gstpeer.py --role offer|answer --sig DIR --mode media|chat|bulk [options]
Signalling: DIR/offer.json, DIR/answer.json hold the SDP and the ICE candidates gathered
(files, nothing on the wire). Modes:
  media  the offerer (and with --bidir the answerer) sends videotestsrc -> vp8enc (--width x
         --height, 30 fps, --kbps) and audiotestsrc -> opusenc for --dur s;
  chat   a data channel with 20-300-byte JSON text both ways at exponential gaps (mean --gap)
         and 4 % 1-30 KB binary, for --dur s;
  bulk   the offerer sends --size bytes in --chunk-byte binary messages, the answerer replies
         "done N".
"""
import argparse
import json
import os
import random
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--role", default="offer")
ap.add_argument("--sig", default=".")
ap.add_argument("--mode", default="media")
ap.add_argument("--dur", type=float, default=30)
ap.add_argument("--gap", type=float, default=1.0)
ap.add_argument("--size", type=int, default=2 << 20)
ap.add_argument("--chunk", type=int, default=16384)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--bidir", action="store_true")
ap.add_argument("--width", type=int, default=320)
ap.add_argument("--height", type=int, default=240)
ap.add_argument("--kbps", type=int, default=400)
A = ap.parse_args()
OFFER = A.role == "offer"
rng = random.Random(f"{A.seed}:{A.role}")
Gst.init(None)
loop = GLib.MainLoop()
cands = []
state = {"gathered": False, "written": False, "dc": None, "got": 0, "sent": 0,
         "asked": False, "local_at": 0.0}


def log(*a):
    print(time.strftime("%H:%M:%S"), A.role, *a, file=sys.stderr, flush=True)


def quit_later(s=0.5):
    GLib.timeout_add(int(s * 1000), lambda: (loop.quit(), False)[1])


desc = "webrtcbin name=w bundle-policy=max-bundle "
if A.mode == "media" and (OFFER or A.bidir):
    desc += (f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={A.width},"
             f"height={A.height},framerate=30/1 ! videoconvert ! queue ! "
             f"vp8enc deadline=1 cpu-used=8 target-bitrate={A.kbps * 1000} keyframe-max-dist=90 ! "
             "rtpvp8pay pt=96 ! application/x-rtp,media=video,encoding-name=VP8,payload=96 ! w. "
             f"audiotestsrc is-live=true wave=sine freq={rng.choice([220, 330, 440])} ! "
             "audioconvert ! audioresample ! opusenc ! rtpopuspay pt=111 ! "
             "application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! w. ")
pipe = Gst.parse_launch(desc)
if not isinstance(pipe, Gst.Pipeline):  # webrtcbin alone: parse_launch gives the element
    w = pipe
    pipe = Gst.Pipeline.new()
    pipe.add(w)
else:
    w = pipe.get_by_name("w")
if A.mode == "media" and not OFFER and not A.bidir:
    pass  # transceivers come from the offer


def on_pad(_, pad):
    if pad.direction != Gst.PadDirection.SRC:
        return
    sink = Gst.ElementFactory.make("fakesink")
    sink.set_property("async", False)
    pipe.add(sink)
    sink.sync_state_with_parent()
    pad.link(sink.get_static_pad("sink"))
    log("incoming stream")


w.connect("pad-added", on_pad)
w.connect("on-ice-candidate", lambda _, idx, c: cands.append([idx, c]))


def write_local():
    # after ICE gathering completes, or (with candidates) 2 s after the local description if
    # that notification never comes (seen in a loaded run: the session then waited forever)
    if state["written"]:
        return
    since = time.time() - state["local_at"] if state["local_at"] else 0
    if not state["gathered"] and not ((cands and since > 2) or since > 10):
        return
    d = w.get_property("local-description")
    if d is None:
        return
    state["written"] = True
    name = "offer.json" if OFFER else "answer.json"
    tmp = os.path.join(A.sig, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"type": "offer" if OFFER else "answer", "sdp": d.sdp.as_text(),
                   "candidates": cands}, f)
    os.rename(tmp, os.path.join(A.sig, name))
    log("wrote", name, len(cands), "candidates")
    if OFFER:
        GLib.timeout_add(100, poll_remote, "answer.json")


def on_gather(*_):
    if w.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
        state["gathered"] = True
        GLib.idle_add(lambda: (write_local(), False)[1])


w.connect("notify::ice-gathering-state", on_gather)


def set_remote(o):
    ok, msg = GstSdp.SDPMessage.new_from_text(o["sdp"])
    typ = GstWebRTC.WebRTCSDPType.OFFER if o["type"] == "offer" else GstWebRTC.WebRTCSDPType.ANSWER
    w.emit("set-remote-description", GstWebRTC.WebRTCSessionDescription.new(typ, msg), None)
    for idx, c in o.get("candidates", []):
        w.emit("add-ice-candidate", idx, c)
    if not OFFER:
        w.emit("create-answer", None, Gst.Promise.new_with_change_func(on_created, "answer"))


def poll_remote(name):
    p = os.path.join(A.sig, name)
    if not os.path.exists(p):
        return True
    with open(p) as f:
        set_remote(json.load(f))
    return False


def on_created(promise, kind):
    promise.wait()
    r = promise.get_reply()
    if not r.has_field(kind):
        log("create", kind, "failed:", r.to_string())
        loop.quit()
        return
    d = r.get_value(kind)
    w.emit("set-local-description", d, None)
    state["local_at"] = time.time()


def negotiate(*_):
    if OFFER and not state["asked"]:
        state["asked"] = True
        w.emit("create-offer", None, Gst.Promise.new_with_change_func(on_created, "offer"))


def tick():  # the fallbacks: no negotiation-needed within 2 s; no gathering-complete
    if OFFER and not state["asked"] and time.time() - T0 > 2:
        log("no negotiation-needed: offering anyway")
        negotiate()
    write_local()
    return not state["written"]


T0 = time.time()
GLib.timeout_add(250, tick)


w.connect("on-negotiation-needed", negotiate)


def text_msg(n):
    al = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?0123456789"
    return json.dumps({"type": "msg", "text": "".join(rng.choice(al) for _ in range(n))})


def setup_dc(ch):
    state["dc"] = ch
    end = [0]

    def chat():
        if time.time() >= end[0]:
            quit_later(2)
            return False
        if rng.random() < 0.04:
            ch.emit("send-data", GLib.Bytes.new(os.urandom(rng.randint(1000, 30000))))
        else:
            ch.emit("send-string", text_msg(rng.randint(20, 300)))
        GLib.timeout_add(max(1, int(rng.expovariate(1 / A.gap) * 1000)), chat)
        return False

    def bulk():
        while state["sent"] < A.size and ch.get_property("buffered-amount") < (1 << 20):
            n = min(A.chunk, A.size - state["sent"])
            ch.emit("send-data", GLib.Bytes.new(os.urandom(n)))
            state["sent"] += n
        if state["sent"] < A.size:
            return True
        log("bulk sent", state["sent"])
        return False

    def on_open(*_):
        if end[0]:
            return
        log("data channel open")
        end[0] = time.time() + A.dur
        if A.mode == "chat":
            GLib.timeout_add(500, chat)
        elif A.mode == "bulk" and OFFER:
            GLib.timeout_add(10, bulk)

    def on_data(_, b):
        state["got"] += b.get_size()
        if A.mode == "bulk" and not OFFER and state["got"] >= A.size:
            log("bulk received", state["got"])
            ch.emit("send-string", f"done {state['got']}")
            quit_later(1.5)

    def on_string(_, s):
        state["got"] += len(s)
        if A.mode == "bulk" and OFFER and s.startswith("done"):
            log("peer says", s)
            quit_later(1)

    ch.connect("on-open", on_open)
    ch.connect("on-message-data", on_data)
    ch.connect("on-message-string", on_string)
    if ch.get_property("ready-state") == GstWebRTC.WebRTCDataChannelState.OPEN:
        on_open()


pipe.set_state(Gst.State.PLAYING)
if A.mode in ("chat", "bulk"):
    if OFFER:
        ch = w.emit("create-data-channel", "chat" if A.mode == "chat" else "data", None)
        setup_dc(ch)
    else:
        w.connect("on-data-channel", lambda _, ch: setup_dc(ch))
if not OFFER:
    GLib.timeout_add(100, poll_remote, "offer.json")
if A.mode == "media":
    GLib.timeout_add(int((A.dur + 8) * 1000), lambda: (loop.quit(), False)[1])
else:
    GLib.timeout_add(int((A.dur + 300) * 1000), lambda: (loop.quit(), False)[1])
bus = pipe.get_bus()
bus.add_signal_watch()
bus.connect("message::error", lambda _, m: (log("error", m.parse_error()), loop.quit()))
loop.run()
pipe.set_state(Gst.State.NULL)
log("closed")
