package brokers_test

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// natsPublish publishes as another producer: a bare JetStream publish with
// its own Nats-Msg-Id (or none), creating the stream if need be.
func natsPublish(t *testing.T, url, subject, stream, id string, body []byte) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.StreamInfo(stream); err != nil {
		if _, err := js.AddStream(&nats.StreamConfig{Name: stream, Subjects: []string{subject}}); err != nil {
			t.Fatal(err)
		}
	}
	m := nats.NewMsg(subject)
	m.Data = body
	if id != "" {
		m.Header.Set(nats.MsgIdHdr, id)
	}
	if _, err := js.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
}
