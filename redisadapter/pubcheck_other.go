//go:build !linux

package redisadapter

import (
	"io"
	"net"
)

// ownPublishConn tells whether the publisher may use a connection of its own (pubConn): not on this
// platform, where it has no health check of an idle connection; the publisher uses go-redis's pool.
const ownPublishConn = false

type connCheck struct{}

func newConnCheck(net.Conn) *connCheck { return &connCheck{} }

func (*connCheck) check() error { return nil }

func (*connCheck) reader(conn net.Conn) io.Reader { return conn }
