package components_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/webhook"
)

func TestRouterSinkTakesTheSuppliedSchedule(t *testing.T) {
	t.Parallel()
	list := middleware.List(time.Second, time.Minute)
	hook := func(s middleware.Schedule) message.Publisher {
		p, err := webhook.NewPublisher(webhook.Config{URL: "https://example.com/hook", Schedule: s}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	cases := []struct {
		name string
		pub  message.Publisher
		want *middleware.Schedule // nil: the pipeline's policy
	}{
		{"webhook with a schedule", hook(list), &list},
		{"webhook without one", hook(middleware.Schedule{}), nil},
		{"publisher that supplies none", &components.HTTPSink{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := components.RouterSink("crm", c.pub)
			if s.Name != "crm" || s.Publisher != c.pub {
				t.Fatalf("sink %+v, want crm over the publisher", s)
			}
			switch {
			case c.want == nil && s.Retry != nil:
				t.Errorf("Retry %+v, want nil (the pipeline's)", s.Retry)
			case c.want != nil && (s.Retry == nil || !reflect.DeepEqual(s.Retry.Schedule, *c.want)):
				t.Errorf("Retry %+v, want schedule %+v", s.Retry, *c.want)
			case c.want != nil && s.Retry.InProcess != nil:
				t.Errorf("InProcess %+v, want the default", s.Retry.InProcess)
			}
		})
	}
}
