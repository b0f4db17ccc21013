package pubsub

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/phxgo/pubsub/internal/wire"
)

// Encoded is the payload of a message from another node whose value's type was not registered on the
// sender (see RegisterType): Data is its msgpack encoding, validated. Message.Decode decodes it into any
// Go value of a matching shape. (A message whose type the sender registered but this node did not is
// dropped and counted by the adapter instead: that is a deployment mistake to surface, not to guess at.)
type Encoded struct {
	Data []byte
}

// types is the process-wide registry of payload types, like encoding/gob's.
var types = struct {
	sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}

// RegisterType registers T under name, so that a T broadcast on one node arrives on every other node as
// a T (it travels as msgpack, tagged with name). Register the same types under the same names on every
// node, typically in an init function. Registering the same pair again is a no-op; reusing a name for
// another type, or registering a type under a second name, is an error, as is an empty name, a name
// longer than 255 bytes, or one of the built-in names "[]byte" and "string" (the wire names of []byte and string payloads). RegisterType is safe for
// concurrent use.
func RegisterType[T any](name string) error {
	t := reflect.TypeFor[T]()
	switch {
	case name == "":
		return fmt.Errorf("pubsub: RegisterType[%v]: empty name", t)
	case len(name) > maxNameLen:
		return fmt.Errorf("pubsub: RegisterType[%v]: name is %d bytes, more than %d", t, len(name), maxNameLen)
	case name == wire.TypeBytes || name == wire.TypeString:
		return fmt.Errorf("pubsub: RegisterType[%v]: %q is a built-in type name", t, name)
	case t.Kind() == reflect.Interface:
		return fmt.Errorf("pubsub: RegisterType[%v]: cannot register an interface type", t)
	}
	types.Lock()
	defer types.Unlock()
	if old, ok := types.byName[name]; ok {
		if old == t {
			return nil
		}
		return fmt.Errorf("pubsub: RegisterType[%v]: name %q is already registered for %v", t, name, old)
	}
	if old, ok := types.byType[t]; ok {
		return fmt.Errorf("pubsub: RegisterType[%v]: type is already registered as %q", t, old)
	}
	types.byName[name] = t
	types.byType[t] = name
	return nil
}

// MustRegisterType is RegisterType that panics on error, for use in init functions and var blocks.
func MustRegisterType[T any](name string) {
	if err := RegisterType[T](name); err != nil {
		panic(err)
	}
}

// typeName returns the registered name of v's type, or "" when it has none.
func typeName(v any) string {
	types.RLock()
	defer types.RUnlock()
	return types.byType[reflect.TypeOf(v)]
}

// registeredType returns the type registered under name.
func registeredType(name string) (reflect.Type, bool) {
	types.RLock()
	defer types.RUnlock()
	t, ok := types.byName[name]
	return t, ok
}
