package builtin_test

import (
	"context"
	"errors"
	"github.com/tributary-dev/tributary/components/builtin"
	"github.com/tributary-dev/tributary/tributarytest"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/internal/pipelinetest"
	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/socketio/client"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// TestLogLinesHaveUniqueKeys builds the socket source and the webhook and
// socketcommand sinks as `tributary run` does (the process logger with the
// component's pipeline/source/sink/type fields, slog JSON), drives them
// through the lines they log — a nacked event, a lost connection and its reconnect, an
// invalidToken without a provider, a failed and a 410 webhook attempt, a
// refused command — and checks that every line has each key once and no
// "error": null.
func TestLogLinesHaveUniqueKeys(t *testing.T) {
	t.Parallel()
	srv := socketiotest.New(socketiotest.Config{PingInterval: 100 * time.Millisecond, PingTimeout: time.Second,
		OnCommand: func(socketiotest.Command) ([]socketiotest.Event, error) { return nil, errors.New("Door is offline.") }})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	sio := httptest.NewServer(mux)
	defer sio.Close()
	defer srv.Drop()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-id") == "gone" {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()

	cfg, err := loadYAML(t, `pipelines:
  - name: panel
    sources:
      - name: doors
        type: socketio
        options: { url: "${SIO}", backoff: { initial: 20ms, max: 100ms } }
    sinks:
      - name: hook
        type: webhook
        options: { url: "${HOOK}", allow_private_networks: true, breaker: { disabled: true } }
      - name: commands
        type: socketcommand
        options: { url: "${SIO}", timeout: 2s }
`, map[string]string{"SIO": sio.URL, "HOOK": hook.URL})
	if err != nil {
		t.Fatal(err)
	}
	logger, log := pipelinetest.NewJSONLogger()
	p := cfg.Pipelines[0]
	built, err := cfg.BuildSource(p, 0, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	sub := built.(*tributary.SubscriberSource)
	run, err := tributarytest.Start(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	ch := run.Messages
	status := func() client.Status {
		return sub.Current().(*socketio.Subscriber).Status()
	}
	pipelinetest.WaitFor(t, 10*time.Second, "the source connected", func() bool { return status().Connects >= 1 })
	srv.Emit("/", "door.request.allowed", map[string]any{"id": "ev-1", "topic": "door.request.allowed", "body": map[string]int{"doorId": 1}})
	next(t, ch).Nack()
	next(t, ch).Ack() // the redelivery
	srv.Emit("/", "invalidToken", map[string]string{"message": "Token has expired."})
	srv.Drop()
	pipelinetest.WaitFor(t, 10*time.Second, "the source reconnected", func() bool { return status().Connects >= 2 })

	hookSink, err := cfg.BuildSink(p, 0, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer hookSink.(message.Publisher).Close()
	for _, id := range []string{"fails", "gone"} {
		msg := tributary.NewEventMessage(id, []byte(`{}`))
		msg.Metadata.Set(tributary.MetaPipeline, "panel")
		_ = hookSink.(message.Publisher).Publish("hook", msg)
	}
	if !hookSink.(*builtin.WebhookSink).Disabled() {
		t.Fatal("the 410 did not disable the endpoint")
	}
	cmdSink, err := cfg.BuildSink(p, 1, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer cmdSink.(message.Publisher).Close()
	if err := cmdSink.(message.Publisher).Publish("commands", message.NewMessage("c1", []byte(`{"topic":"door.try.open","body":{"doorId":1}}`))); err == nil {
		t.Fatal("the refused command succeeded")
	}

	for _, want := range []string{"Message nacked", "Socket connection lost", "Socket connected", "token is invalid", "Webhook attempt failed",
		"410 Gone", "Command refused"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("no %q line; the test did not exercise it:\n%s", want, log)
		}
	}
	n := log.CheckLines(t)
	if n < 6 {
		t.Fatalf("only %d lines checked", n)
	}
}
