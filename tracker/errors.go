package tracker

import (
	"errors"

	"github.com/phxgo/pubsub"
)

// Errors returned by the package; methods wrap them with detail, so test with errors.Is.
var (
	// ErrAlreadyTracked is returned by Track when the owner already tracks the key in the topic.
	ErrAlreadyTracked = errors.New("tracker: already tracked")
	// ErrNoPresence is returned by Update and UpdateFunc when the owner does not track the key in the topic.
	ErrNoPresence = errors.New("tracker: no presence")
	// ErrClosed is returned by every call after Close or GracefulPermdown. It matches pubsub.ErrClosed
	// too (errors.Is).
	ErrClosed = pubsub.ClosedError("tracker: closed")
	// ErrInvalidConfig is returned by New for a configuration it cannot use.
	ErrInvalidConfig = errors.New("tracker: invalid config")
	// ErrInvalidArgument is returned for an empty topic or key, a nil owner, or metadata that cannot
	// travel between nodes.
	ErrInvalidArgument = errors.New("tracker: invalid argument")
)
