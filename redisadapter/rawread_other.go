//go:build !linux

package redisadapter

import (
	"io"
	"net"
)

// socketReader returns what the subscription's reader reads conn through: conn itself (raw reads are
// Linux's: rawread_linux.go).
func socketReader(conn net.Conn) io.Reader { return conn }
