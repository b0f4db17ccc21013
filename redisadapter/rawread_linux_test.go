package redisadapter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// The raw reader reads what the peer writes, in order, across short reads and waits for more (the
// drained path), and reports the peer's close as io.EOF.
func TestRawReaderReadsAcrossWaits(t *testing.T) {
	client, server := tcpPair(t)
	r := socketReader(client)
	if _, ok := r.(*rawReader); !ok {
		t.Fatalf("socketReader of a TCP connection is %T, want a raw reader", r)
	}
	var want, got bytes.Buffer
	buf := make([]byte, 64)
	for i := range 50 {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*7%97)
		want.Write(chunk)
		go func() {
			time.Sleep(time.Millisecond) // the reader waits in the poller first
			server.Write(chunk)
		}()
		for got.Len() < want.Len() {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatalf("read %d of %d bytes: %v", got.Len(), want.Len(), err)
			}
			got.Write(buf[:n])
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("the bytes read differ from the bytes written")
	}
	server.Close()
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: %d, %v; want 0, io.EOF", n, err)
	}
}

// A deadline and Close interrupt a raw read that waits, with the errors a net.Conn's Read returns.
func TestRawReaderDeadlineAndClose(t *testing.T) {
	client, _ := tcpPair(t)
	r := socketReader(client)
	client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	client.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := r.Read(make([]byte, 8)); done <- err }()
	time.Sleep(10 * time.Millisecond)
	client.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt the read")
	}
}

// The adapter's own connection tracking is seen through; a connection that is not a plain socket is
// read as itself.
func TestSocketReaderKinds(t *testing.T) {
	client, _ := tcpPair(t)
	set := newConnSet()
	tracked, err := set.dialer(func(context.Context, string, string) (net.Conn, error) { return client, nil })(context.Background(), "tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := socketReader(tracked).(*rawReader); !ok {
		t.Fatalf("socketReader of the adapter's tracked connection is %T, want a raw reader", socketReader(tracked))
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if r := socketReader(p1); r != io.Reader(p1) {
		t.Fatalf("socketReader of a pipe is %T, want the pipe itself", r)
	}
}
