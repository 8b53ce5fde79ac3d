// Package simulate serves, on loopback, fake providers and a receiver for the
// quickstart and the end-to-end tests: an ETag event log, a webhook
// receiver that prints what it gets and verifies Standard Webhooks
// signatures, batch polling feeds, and a Socket.IO access-control stream.
package simulate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/tributary-dev/tributary/internal/backoff"
)

// Config configures the simulators.
type Config struct {
	// Addr is where to listen; 127.0.0.1:8090 when empty.
	Addr string
	// EventInterval is the mean time between generated provider events; 2 s when zero.
	EventInterval time.Duration
	// Seed makes generated events reproducible; 1 when zero.
	Seed uint64
	// EventLogToken, when set, is the Bearer token the event log requires.
	EventLogToken string
	// ReceiverSecret, when set (whsec_…), makes the receiver verify Standard
	// Webhooks signatures.
	ReceiverSecret string
	// ReceiverToken, when set, is the Bearer token the receiver requires
	// (401 otherwise), so that a right-token/wrong-token test can pass.
	ReceiverToken string
	// FeedClientSecret is the OAuth2 client secret the batch feed's token
	// endpoint wants; FeedClientSecret (the constant) when empty.
	FeedClientSecret string
	// Out receives one line per received webhook; nil discards.
	Out io.Writer
	// Logger; NopLogger when nil.
	Logger watermill.LoggerAdapter
}

func (c *Config) setDefaults() {
	c.Addr = cmp.Or(c.Addr, "127.0.0.1:8090")
	c.EventInterval = cmp.Or(c.EventInterval, 2*time.Second)
	c.Seed = cmp.Or(c.Seed, 1)
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.EventInterval < 0 {
		return errors.New("simulate: EventInterval must not be negative")
	}
	return nil
}

// Simulator is one fake provider or receiver mounted on the shared server.
type Simulator interface {
	// Name is shown in the startup banner.
	Name() string
	// Mount adds the simulator's routes and returns the paths to announce.
	Mount(mux *http.ServeMux) []string
	// Run generates events until ctx ends.
	Run(ctx context.Context)
}

var (
	slotsMu sync.Mutex
	slots   []func(Config) (Simulator, error)
)

// Register adds a simulator to every Server built afterwards. The Socket.IO
// and batch feed simulators register themselves here from one file each.
func Register(f func(Config) (Simulator, error)) {
	slotsMu.Lock()
	defer slotsMu.Unlock()
	slots = append(slots, f)
}

// Server runs every simulator on one loopback listener.
type Server struct {
	Receiver *Receiver
	EventLog *EventLog
	sims     []Simulator
	ln       net.Listener
	srv      *http.Server
	routes   []string
}

// NewServer builds the simulators and listens on cfg.Addr.
func NewServer(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{}
	var err error
	if s.Receiver, err = NewReceiver(ReceiverConfig{Secret: cfg.ReceiverSecret, Token: cfg.ReceiverToken, Out: cfg.Out}); err != nil {
		return nil, err
	}
	s.EventLog = NewEventLog(EventLogConfig{Interval: cfg.EventInterval, Seed: cfg.Seed, Token: cfg.EventLogToken})
	s.sims = []Simulator{s.EventLog, s.Receiver}
	slotsMu.Lock()
	for _, f := range slots {
		sim, err := f(cfg)
		if err != nil {
			slotsMu.Unlock()
			return nil, err
		}
		s.sims = append(s.sims, sim)
	}
	slotsMu.Unlock()
	mux := http.NewServeMux()
	// What the tests ask of the simulators; not in the banner.
	mux.HandleFunc("GET /simulator/sent", serveUnion(s.sims, ledger.Sent))
	mux.HandleFunc("GET /simulator/readers", serveUnion(s.sims, readerSource.Readers))
	for _, sim := range s.sims {
		for _, p := range sim.Mount(mux) {
			s.routes = append(s.routes, fmt.Sprintf("%-22s %s", sim.Name(), p))
		}
	}
	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("simulate: listen: %w", err)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// URL is the server's base URL (http://127.0.0.1:port).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Routes lists "simulator  path" lines for the startup banner (not the
// tests' /simulator/ routes).
func (s *Server) Routes() []string { return s.routes }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, sim := range s.sims {
		wg.Go(func() { sim.Run(ctx) })
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(sctx)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// serveUnion serves, as JSON, the union of part's maps over the simulators
// implementing I (their keys never collide).
func serveUnion[I, T any](sims []Simulator, part func(I) map[string]T) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		all := map[string]T{}
		for _, s := range sims {
			if i, ok := s.(I); ok {
				maps.Copy(all, part(i))
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(all)
	}
}

// waitAround waits interval × [0.5, 1.5) — simulated events come irregularly
// but at interval on average — and reports false once ctx ends. mu guards rng.
func waitAround(ctx context.Context, mu *sync.Mutex, rng *rand.Rand, interval time.Duration) bool {
	mu.Lock()
	wait := time.Duration(float64(interval) * (0.5 + rng.Float64()))
	mu.Unlock()
	return backoff.Sleep(ctx, wait) == nil
}
