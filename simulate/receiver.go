package simulate

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary-dev/tributary/internal/httpauth"
	"github.com/tributary-dev/tributary/tracing"
	"github.com/tributary-dev/tributary/webhook/signature"
)

// ReceiverConfig configures the webhook receiver.
type ReceiverConfig struct {
	// Secret (whsec_<base64>) enables Standard Webhooks signature checks.
	Secret string
	// Token, when set, is the Bearer token required (401 otherwise).
	Token string
	// Out gets one line per request.
	Out io.Writer
}

// Received is one request the receiver accepted or refused.
type Received struct {
	At        time.Time `json:"at"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type,omitempty"`
	Source    string    `json:"source,omitempty"`
	// Traceparent is the W3C trace context header, when sent.
	Traceparent string          `json:"traceparent,omitempty"`
	Signature   string          `json:"signature"` // valid, invalid, unsigned, unchecked
	Duplicate   bool            `json:"duplicate"`
	Status      int             `json:"status"`
	Body        json.RawMessage `json:"body,omitempty"`
}

// Receiver is a webhook endpoint that prints and remembers what it gets.
type Receiver struct {
	cfg ReceiverConfig
	key []byte

	mu   sync.Mutex
	got  []Received
	seen map[string]bool
}

// NewReceiver returns a receiver.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	r := &Receiver{cfg: cfg, seen: map[string]bool{}}
	if cfg.Secret != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(cfg.Secret, "whsec_"))
		if err != nil || len(key) == 0 {
			return nil, errors.New("simulate: receiver secret must be whsec_<base64>")
		}
		r.key = key
	}
	return r, nil
}

// Name implements Simulator.
func (r *Receiver) Name() string { return "webhook receiver" }

// Mount implements Simulator.
func (r *Receiver) Mount(mux *http.ServeMux) []string {
	mux.HandleFunc("POST /webhook", r.serve)
	mux.HandleFunc("GET /webhook/received", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Received())
	})
	return []string{"POST /webhook (prints each delivery)", "GET  /webhook/received (JSON of what arrived)"}
}

// Run implements Simulator.
func (r *Receiver) Run(ctx context.Context) { <-ctx.Done() }

// Received returns a copy of everything received so far.
func (r *Receiver) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	rec := Received{
		At:          time.Now().UTC(),
		EventID:     cmp.Or(req.Header.Get("webhook-id"), req.Header.Get("X-Tributary-Event-Id")),
		EventType:   req.Header.Get("X-Tributary-Event-Type"),
		Source:      req.Header.Get("X-Tributary-Source"),
		Traceparent: req.Header.Get("traceparent"),
		Signature:   "unchecked",
		Status:      http.StatusOK,
	}
	if json.Valid(body) {
		rec.Body = body
	}
	if r.key != nil {
		rec.Signature = r.verify(req.Header, body)
	}
	if r.cfg.Token != "" {
		got, _ := httpauth.Bearer(req.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare([]byte(got), []byte(r.cfg.Token)) != 1 {
			rec.Status = http.StatusUnauthorized
		}
	}
	if rec.Signature == "invalid" || (r.key != nil && rec.Signature == "unsigned") {
		rec.Status = http.StatusUnauthorized
	}
	r.mu.Lock()
	if rec.Status == http.StatusOK {
		rec.Duplicate = r.seen[rec.EventID]
		r.seen[rec.EventID] = true
	}
	r.got = append(r.got, rec)
	n := len(r.got)
	r.mu.Unlock()

	dup := ""
	if rec.Duplicate {
		dup = " DUPLICATE"
	}
	trace := "-"
	if sc := tracing.Parse(rec.Traceparent); sc.IsValid() {
		trace = sc.TraceID().String()
	}
	fmt.Fprintf(r.cfg.Out, "receiver #%d %s %d event=%s type=%s source=%s signature=%s trace=%s%s\n",
		n, rec.At.Format("15:04:05.000"), rec.Status, rec.EventID, rec.EventType, rec.Source, rec.Signature, trace, dup)
	if rec.Status != http.StatusOK {
		http.Error(w, http.StatusText(rec.Status), rec.Status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// verify checks Standard Webhooks headers: webhook-signature holds one or
// more space-separated "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
func (r *Receiver) verify(h http.Header, body []byte) string {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return "unsigned"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	drift := time.Since(time.Unix(sec, 0)).Abs()
	if err == nil && drift <= signature.DefaultTolerance && VerifySignature(r.key, id, ts, body, sigs) {
		return "valid"
	}
	return "invalid"
}

// VerifySignature reports whether any v1 signature in header matches.
func VerifySignature(key []byte, id, timestamp string, body []byte, header string) bool {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + timestamp + "."))
	m.Write(body)
	want := m.Sum(nil)
	return slices.ContainsFunc(signature.ParseHeader(header), func(s signature.Signature) bool {
		return s.Version == "v1" && hmac.Equal(s.Value, want)
	})
}
