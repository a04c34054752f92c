#!/bin/bash
# build.sh OUTBIN -- build sfbroker and sfserver offline, Debian's Go way
# (GOPATH mode against /usr/share/gocode; needs golang-go and golang-snowflake-dev).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$HERE/bin}; mkdir -p "$BIN"
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/sfnet-build-XXXX")
mkdir -p "$BUILD/gopath/src/sfnew"
# GOPATH mode cannot see /vN module paths: link github.com/x/y/vN -> /usr/share/gocode/.../y
(cd /usr/share/gocode/src && find . -name go.mod -not -path '*/testdata/*' | while read -r f; do
	m=$(awk '/^module /{print $2; exit}' "$f"); d=${f#./}; d=${d%/go.mod}
	if [ "$m" != "$d" ] && [ "${m%/v[0-9]*}" = "$d" ]; then
		mkdir -p "$BUILD/gopath/src/$d"; ln -sfn "/usr/share/gocode/src/$d" "$BUILD/gopath/src/$m"
	fi
done)
for prog in sfbroker sfserver; do
	mkdir -p "$BUILD/gopath/src/sfnew/$prog"
	cp "$HERE/$prog/"*.go "$BUILD/gopath/src/sfnew/$prog/"
	(cd "$BUILD/gopath/src/sfnew/$prog" && GO111MODULE=off GOFLAGS= GOPATH=$BUILD/gopath:/usr/share/gocode \
		GOCACHE=$BUILD/gocache nice go build -o "$BIN/$prog" .)
done
rm -rf "$BUILD"
ls -la "$BIN"
