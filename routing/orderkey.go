package routing

import (
	"fmt"
	"reflect"

	"github.com/ThreeDotsLabs/watermill/message"
)

// OrderKey is a compiled `order_by` expression: the key an ordered sink
// keeps order by (router.Sink.OrderKey), e.g. `payload.doorId` or
// `metadata["door"]`. It is safe for concurrent use.
type OrderKey struct {
	prog *program
}

// NewOrderKey compiles src; errors are *Error with the field "order_by".
func NewOrderKey(src string) (*OrderKey, error) {
	p, err := compile("order_by", src, reflect.Interface)
	if err != nil {
		return nil, err
	}
	return &OrderKey{prog: p}, nil
}

// Key implements router.Sink.OrderKey: a string is the key as it is, a
// number or a bool its decimal or literal text; nil (a field the event
// lacks) is no key, so the event waits for nothing. Anything else (a map, a
// list), a payload that is not JSON or a failing expression is an error:
// the router poisons the event for the sink, as for a filter.
func (k *OrderKey) Key(msg *message.Message) (string, error) {
	env, err := envOf(msg, k.prog.usesPayload)
	if err != nil {
		return "", err
	}
	out, err := k.prog.run(env)
	if err != nil {
		return "", err
	}
	key, ok := scalarText(out)
	if !ok {
		return "", fmt.Errorf("order_by: the key is a %T; want a string or a number", out)
	}
	return key, nil
}
