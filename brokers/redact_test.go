package brokers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/brokers"
	"github.com/tributary-dev/tributary/brokers/amqp"
	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/internal/brokertest"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
)

const password = "pa55-w0rd-XYZ"

// TestSecretsRedacted: a client whose errors quote the broker URL (as some
// do) leaks the password into neither the sink's error, nor the delivery
// log, nor the source's log lines.
func TestSecretsRedacted(t *testing.T) {
	t.Parallel()
	url := "amqp://tributary:" + password + "@broker.example:5672/vhost"
	quoting := func() error { return fmt.Errorf("dial %s: connection refused", url) }

	logger, lines := pipelinetest.NewJSONLogger()
	log := &attempts{}
	sink := brokers.NewSink(brokers.SinkConfig{Kind: "test", URL: url, Logger: logger,
		SinkOptions: brokers.SinkOptions{Log: log}, Pipeline: "p", Name: "s",
		Connect: func(watermill.LoggerAdapter) (message.Publisher, error) { return nil, quoting() }})
	err := sink.Publish("", tributary.NewEventMessage("e1", []byte(`{}`)))
	if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "broker.example") {
		t.Fatalf("publish error %q: want the host, not the password", err)
	}
	at := log.list()
	if len(at) != 1 || strings.Contains(fmt.Sprintf("%+v", at[0]), password) || at[0].Endpoint != "amqp://tributary@broker.example:5672/vhost" {
		t.Fatalf("delivery log %+v", at)
	}

	src := brokers.NewSource(brokers.SourceConfig{Kind: "test", URL: url, Logger: logger,
		Connect: func(watermill.LoggerAdapter) (message.Subscriber, error) { return nil, quoting() }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := src.Subscribe(ctx, ""); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitFor(t, 10*time.Second, "the source to log its failure", func() bool {
		return strings.Contains(lines.String(), "connection refused")
	})
	cancel()
	src.Wait()
	if out := lines.String(); strings.Contains(out, password) {
		t.Fatalf("logs carry the password:\n%s", out)
	}
}

// TestWrongPasswordNotShown: the real RabbitMQ refusing a password: the
// sink's error says so without the password.
func TestWrongPasswordNotShown(t *testing.T) {
	t.Parallel()
	direct := brokertest.RabbitMQ(t)
	url := strings.Replace(direct, "guest:guest@", "guest:"+password+"@", 1)
	log := &attempts{}
	sink, err := amqp.NewSink(amqp.SinkConfig{Connection: amqp.Connection{URL: url}, Queue: brokertest.Name(t, "tributary"),
		SinkOptions: brokers.SinkOptions{Log: log}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = sink.Publish("", tributary.NewEventMessage("e1", []byte(`{}`)))
	if err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("publish error %v: want a refusal without the password", err)
	}
	if a := log.list(); len(a) != 1 || strings.Contains(fmt.Sprintf("%+v", a), password) {
		t.Fatalf("delivery log %+v", a)
	}
}

// TestFileValidation: each broker type's options are checked at the key's
// line and column, and no message quotes a URL's password.
func TestFileValidation(t *testing.T) {
	t.Parallel()
	file := `pipelines:
  - name: p
    sources:
      - name: a
        type: amqp
        options: { url: "http://u:` + password + `@h/", exchange_type: fanciful }
      - name: r
        type: redisstream
        options: { url: "redis://:` + password + `@h:1/x", stream: s, start: middle }
      - name: n
        type: natsjs
        options: { url: "nats://u:` + password + `@h:1", subject: "a b", durable: "x.y" }
    sinks:
      - name: a
        type: amqp
        options: { url: "amqp://u:` + password + `@h/" }
      - name: n
        type: natsjs
        options: { url: "nats://u:` + password + `@h:1", subject: "a.*", stream: "S" }
      - name: r
        type: redisstream
        options: { url: "redis://h:1/0", stream: s, max_len: -1 }
`
	_, err := config.Load("brokers.yaml", []byte(file), func(string) (string, bool) { return "", false })
	errs, ok := config.AsErrors(err)
	if !ok {
		t.Fatalf("want positioned errors, got %v", err)
	}
	want := map[string]int{ // key → line
		"pipelines[0].sources[0].options.url":           6,
		"pipelines[0].sources[0].options.queue":         6,
		"pipelines[0].sources[0].options.exchange_type": 6,
		"pipelines[0].sources[1].options.url":           9,
		"pipelines[0].sources[1].options.start":         9,
		"pipelines[0].sources[2].options.subject":       12,
		"pipelines[0].sources[2].options.durable":       12,
		"pipelines[0].sinks[0].options.queue":           16,
		"pipelines[0].sinks[1].options.subject":         19,
		"pipelines[0].sinks[2].options.max_len":         22,
	}
	got := map[string]int{}
	for _, e := range errs {
		got[e.Field] = e.Line
		if strings.Contains(e.Msg, password) {
			t.Errorf("%s: message quotes the password: %s", e.Field, e.Msg)
		}
		if e.Column == 0 {
			t.Errorf("%s: no column", e.Field)
		}
	}
	for k, line := range want {
		if got[k] != line {
			t.Errorf("%s: reported at line %d, want %d (all: %v)", k, got[k], line, errs)
		}
	}
}
