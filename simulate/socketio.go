package simulate

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/tributary-dev/tributary/internal/socketiotest"
	"github.com/tributary-dev/tributary/sources/socketio"
)

func init() {
	Register(func(cfg Config) (Simulator, error) {
		return NewSocketIO(SocketIOConfig{Interval: cfg.EventInterval, Seed: cfg.Seed}), nil
	})
}

// SocketIOConfig configures the Socket.IO simulator.
type SocketIOConfig struct {
	// Interval is the mean time between door events; 2 s when zero.
	Interval time.Duration
	// Seed makes the events (and tokens) reproducible.
	Seed uint64
	// RotateEvery rotates the panel token after this many events, so that
	// connected clients get invalidToken and must renew; 25 when zero,
	// negative never.
	RotateEvery int
	// PingInterval and PingTimeout are announced in the open packet; 25 s and 5 s when zero.
	PingInterval, PingTimeout time.Duration
}

// SocketIO simulates an access-control panel's stream: a Socket.IO 2.x server on
// /socket.io/ (socketiotest, over coder/websocket) that streams door events
// to connected clients, answers `command` with command.result.succeed and
// the events the panel would then emit, and rotates its token now and then.
// GET /socketio/token hands out the current token, standing in for the
// provider's token service, so a client configured with `token: {url: …}`
// renews itself.
type SocketIO struct {
	cfg SocketIOConfig
	srv *socketiotest.Server

	mu     sync.Mutex
	rng    *rand.Rand
	seq    int
	token  string
	tokens int
	sent   sentLog

	readers readerLog
}

// Readers implements readerSource: connections, for their whole life.
func (s *SocketIO) Readers() map[string]Readers {
	return map[string]Readers{"socketio": s.readers.snapshot()}
}

// Sent implements ledger: the events emitted, and whether a client was
// connected to receive each.
func (s *SocketIO) Sent() map[string][]Sent { return s.sent.snapshot() }

// simDoors are the panel's doors (the protocol's door ids are integers).
var simDoors = []socketiotest.Door{{ID: 1, Name: "Main entrance"}, {ID: 2, Name: "Bike room"}, {ID: 3, Name: "Office 3F"},
	{ID: 4, Name: "Garage"}, {ID: 5, Name: "Laundry"}}

// simTopics are the door events' topics by frequency: the first whose below
// exceeds a draw of 0…99.
var simTopics = []simTopic{{55, "door.request.allowed"}, {63, "door.request.denied"}, {66, "door.request.unknown"},
	{76, "door.input.dps.opened"}, {86, "door.input.dps.closed"}, {90, "door.input.rex.on"},
	{94, "door.alarm.propped.on"}, {97, "door.alarm.propped.off"}, {99, "door.alarm.forced"},
	{100, "door.alarm.forced.cleared"}}

type simTopic struct {
	below int
	topic string
}

// NewSocketIO returns the simulator with its first token in place.
func NewSocketIO(cfg SocketIOConfig) *SocketIO {
	cfg.Interval = cmp.Or(cfg.Interval, 2*time.Second)
	cfg.RotateEvery = cmp.Or(cfg.RotateEvery, 25)
	s := &SocketIO{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5104))}
	s.token = s.nextToken()
	s.srv = socketiotest.New(socketiotest.Config{PingInterval: cfg.PingInterval, PingTimeout: cfg.PingTimeout, Token: s.token})
	return s
}

// nextToken draws a new token; s.mu must be held (or s not yet shared).
func (s *SocketIO) nextToken() string {
	s.tokens++
	return fmt.Sprintf("simpanel-%d-%016x", s.tokens, s.rng.Uint64())
}

// Server is the underlying Socket.IO server (for tests).
func (s *SocketIO) Server() *socketiotest.Server { return s.srv }

// Token is the token the server accepts now.
func (s *SocketIO) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Name implements Simulator.
func (s *SocketIO) Name() string { return "socket.io panel" }

// Mount implements Simulator.
func (s *SocketIO) Mount(mux *http.ServeMux) []string {
	mux.Handle("/socket.io/", track(&s.readers, s.srv))
	mux.HandleFunc("GET /socketio/token", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": s.Token()})
	})
	return []string{
		"WS   /socket.io/?EIO=3&transport=websocket&token=… (door events, commands)",
		"GET  /socketio/token (the current token; it rotates every " + fmt.Sprint(s.cfg.RotateEvery) + " events)",
	}
}

// Run implements Simulator: a door event every Interval on average, and
// connections closed when ctx ends (hijacked WebSockets outlive the HTTP
// server's Shutdown).
func (s *SocketIO) Run(ctx context.Context) {
	defer s.srv.CloseServerSide()
	for waitAround(ctx, &s.mu, s.rng, s.cfg.Interval) {
		for _, ev := range s.Next(time.Now()) {
			live := s.srv.Emit("/", ev.Name, ev.Data) > 0
			data, _ := json.Marshal(ev.Data)
			s.sent.add("socketio", Sent{ID: socketio.EventID(ev.Name, data), At: time.Now(), Live: live})
		}
	}
}

// Next draws the events of one step of the simulation occurring at `at`
// (one door event, sometimes followed by the panel's liveEvent for it) and
// rotates the token when due. Events are reproducible from the seed; their
// ids are stable (sio_<seed>_<n>) so a re-sent event dedups.
func (s *SocketIO) Next(at time.Time) []socketiotest.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	door := simDoors[s.rng.IntN(len(simDoors))]
	r := s.rng.IntN(100)
	topic := simTopics[slices.IndexFunc(simTopics, func(t simTopic) bool { return r < t.below })].topic
	person := 100 + s.rng.IntN(40)
	data := socketiotest.SampleEvent(topic, door, at, person)
	if m, ok := data.(map[string]any); ok {
		if _, has := m["id"]; has {
			m["id"] = fmt.Sprintf("sio_%d_%06d", s.cfg.Seed, s.seq)
		}
	}
	evs := []socketiotest.Event{{Name: topic, Data: data}}
	if topic == "door.request.allowed" && s.rng.IntN(3) == 0 {
		evs = append(evs, socketiotest.Event{Name: "liveEvent", Data: socketiotest.SampleEvent("liveEvent", door, at, person)})
	}
	if s.cfg.RotateEvery > 0 && s.seq%s.cfg.RotateEvery == 0 {
		// Live clients keep their connection; their next events wait behind
		// invalidToken until they send renewedToken with this token.
		s.token = s.nextToken()
		s.srv.RotateToken(s.token)
	}
	return evs
}
