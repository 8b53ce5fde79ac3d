package router

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/middleware"
)

// routeFilter runs a sink's filter. ok is false for a message the sink does
// not want; err (a permanent error) for a message the filter cannot judge.
// A panicking filter is an error of the message, not a crash of the router.
func (r *Router) routeFilter(p Pipeline, s Sink, msg *message.Message) (ok bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			ok, err = false, fmt.Errorf("panic: %v", v)
		}
		if err != nil {
			r.metrics.RoutingErrors.WithLabelValues(p.Name, s.Name, "filter").Inc()
			err = middleware.Permanent(fmt.Errorf("filter: %w", err))
		}
	}()
	return s.Filter(msg)
}

// routeTransform runs a sink's transform on out, the copy about to be
// published; any failure is permanent, as the same event would fail again.
func (r *Router) routeTransform(p Pipeline, s Sink, out *message.Message) (res *message.Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nil, fmt.Errorf("panic: %v", v)
		}
		if err == nil && res == nil {
			err = errors.New("returned no message")
		}
		if err != nil {
			r.metrics.RoutingErrors.WithLabelValues(p.Name, s.Name, "transform").Inc()
			res, err = nil, middleware.Permanent(fmt.Errorf("transform: %w", err))
		}
	}()
	res, err = s.Transform(out)
	if res != nil && res != out {
		res.SetContext(out.Context())
	}
	return res, err
}
