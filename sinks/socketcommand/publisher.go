// Package socketcommand is a sink that sends access-control commands over the
// provider's Socket.IO Streaming API: each message becomes `command {id,
// topic, body}` with a fresh UUID, and Publish returns once the server
// confirms it with `command.result.succeed {commandId}`.
//
// A message's payload is {"topic": "door.try.open", "body": {"doorId": 1}},
// or just the body when metadata MetaTopic names the command. Invalid
// commands and serverError answers are permanent errors (poisoned at once);
// a timeout or a lost connection is transient (retried). A retried command
// gets a new id, so a command whose result was lost may run twice: the
// toggles (door.actuate.dnd, door.actuate.forcetoggle) are not idempotent.
package socketcommand

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sources/socketio"
)

// MetaTopic, when set on a message, is the command topic and the payload is its body.
const MetaTopic = "socketcommand_topic"

// Metadata set on a published message once the server confirmed the command.
const (
	MetaCommandID = "socketcommand_id"     // the id sent with the command
	MetaResultID  = "socketcommand_result" // the id of the command.result.succeed event
)

// Errors a Publish may return (wrapped).
var (
	// ErrTimeout: no result within Config.Timeout (transient).
	ErrTimeout = errors.New("no command result in time")
	// ErrServer: the server answered serverError (permanent).
	ErrServer = errors.New("server refused the command")
)

// Config configures a Publisher.
type Config struct {
	// Socket configures the connection the Publisher opens, unless Client is set.
	Socket socketio.ClientConfig
	// Client is an existing connection to share (e.g. a socketio.Subscriber's);
	// the Publisher then does not close it. While a sharing source applies
	// backpressure the socket is not read, so results wait (and may time
	// out) behind it: leave Client nil for a connection of the sink's own
	// when the source may fall behind.
	Client *socketio.Client
	// Timeout bounds one command, from waiting for a connection to its result; 10 s when zero.
	Timeout time.Duration
	// CommandEvent, ResultEvent and ErrorEvent name the events; "command",
	// "command.result.succeed" and "serverError" when empty.
	CommandEvent, ResultEvent, ErrorEvent string
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.CommandEvent == "" {
		c.CommandEvent = "command"
	}
	if c.ResultEvent == "" {
		c.ResultEvent = "command.result.succeed"
	}
	if c.ErrorEvent == "" {
		c.ErrorEvent = "serverError"
	}
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.Timeout < 0 {
		return errors.New("socketcommand: Timeout must not be negative")
	}
	if c.Client == nil && c.Socket.URL == "" {
		return errors.New("socketcommand: set Client or Socket.URL")
	}
	return nil
}

// Command is one command to send.
type Command struct {
	Topic string          `json:"topic"`
	Body  json.RawMessage `json:"body"`
}

// Result is the server's confirmation.
type Result struct {
	// CommandID is the id the command was sent with.
	CommandID string
	// Event is the command.result.succeed event as received.
	Event json.RawMessage
	// EventID is that event's own id.
	EventID string
}

// Publisher sends commands; it is a message.Publisher.
type Publisher struct {
	cfg    Config
	client *socketio.Client
	owned  bool
	logger watermill.LoggerAdapter
	remove func()

	// sendMu serialises commands: serverError carries no command id, so only
	// one command may await its answer at a time for the error to be its own.
	sendMu  sync.Mutex
	mu      sync.Mutex
	waiting map[string]chan outcome
	current string

	closeOnce sync.Once
	closed    chan struct{}
}

type outcome struct {
	result Result
	err    error
}

// NewPublisher validates cfg and connects (in the background) unless it shares a client.
func NewPublisher(cfg Config, logger watermill.LoggerAdapter) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	p := &Publisher{cfg: cfg, client: cfg.Client, logger: logger, waiting: map[string]chan outcome{}, closed: make(chan struct{})}
	if p.client == nil {
		c, err := socketio.NewClient(cfg.Socket, logger)
		if err != nil {
			return nil, err
		}
		p.client, p.owned = c, true
	}
	p.remove = p.client.Watch(p.onEvent)
	p.client.Start()
	return p, nil
}

// Client is the connection the Publisher sends on.
func (p *Publisher) Client() *socketio.Client { return p.client }

func (p *Publisher) onEvent(ev socketio.Event) {
	switch ev.Name {
	case p.cfg.ResultEvent:
		var res struct {
			ID   string `json:"id"`
			Body struct {
				CommandID string `json:"commandId"`
			} `json:"body"`
		}
		if json.Unmarshal(ev.Data, &res) != nil || res.Body.CommandID == "" {
			return
		}
		p.resolve(res.Body.CommandID, outcome{result: Result{CommandID: res.Body.CommandID, Event: ev.Data, EventID: res.ID}})
	case p.cfg.ErrorEvent:
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(ev.Data, &e)
		if e.Message == "" {
			e.Message = string(ev.Data)
		}
		p.mu.Lock()
		id := p.current
		p.mu.Unlock()
		if id != "" {
			p.resolve(id, outcome{err: fmt.Errorf("%w: %s", ErrServer, e.Message)})
		}
	}
}

func (p *Publisher) resolve(id string, o outcome) {
	p.mu.Lock()
	ch := p.waiting[id]
	delete(p.waiting, id)
	p.mu.Unlock()
	if ch != nil {
		ch <- o
	}
}

// Publish sends each message's command and waits for its result.
func (p *Publisher) Publish(_ string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		cmd, err := commandOf(msg)
		if err != nil {
			return middleware.Permanent(err)
		}
		res, err := p.Send(msg.Context(), cmd)
		if err != nil {
			return err
		}
		msg.Metadata.Set(MetaCommandID, res.CommandID)
		msg.Metadata.Set(MetaResultID, res.EventID)
	}
	return nil
}

func commandOf(msg *message.Message) (Command, error) {
	if topic := msg.Metadata.Get(MetaTopic); topic != "" {
		return Command{Topic: topic, Body: json.RawMessage(msg.Payload)}, nil
	}
	var cmd Command
	if err := json.Unmarshal(msg.Payload, &cmd); err != nil || cmd.Topic == "" {
		return Command{}, fmt.Errorf("socketcommand: %w: payload must be {\"topic\":…,\"body\":…} (or set metadata %s)", ErrInvalidCommand, MetaTopic)
	}
	return cmd, nil
}

// Send validates cmd, emits it with a fresh UUID and waits for its result.
// Invalid commands and serverError are middleware.Permanent; timeouts and
// connection trouble are transient.
func (p *Publisher) Send(ctx context.Context, cmd Command) (Result, error) {
	body, err := Validate(cmd.Topic, cmd.Body)
	if err != nil {
		return Result{}, middleware.Permanent(fmt.Errorf("socketcommand: %w", err))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	select {
	case <-p.closed:
		return Result{}, errors.New("socketcommand: publisher closed")
	default:
	}

	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if err := p.client.WaitConnected(ctx); err != nil {
		return Result{}, fmt.Errorf("socketcommand: %s: no connection within %s: %w", cmd.Topic, p.cfg.Timeout, err)
	}
	id := uuid.NewString()
	ch := make(chan outcome, 1)
	p.mu.Lock()
	p.waiting[id] = ch
	p.current = id
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, id)
		p.current = ""
		p.mu.Unlock()
	}()
	payload := map[string]any{"id": id, "topic": cmd.Topic, "body": body}
	if err := p.client.Emit(ctx, p.cfg.CommandEvent, payload); err != nil {
		return Result{}, fmt.Errorf("socketcommand: %s %s: %w", cmd.Topic, id, err)
	}
	select {
	case o := <-ch:
		if o.err != nil {
			p.logger.Error("Command refused", o.err, watermill.LogFields{"command_id": id, "topic": cmd.Topic})
			return Result{}, middleware.Permanent(fmt.Errorf("socketcommand: %s %s: %w", cmd.Topic, id, o.err))
		}
		p.logger.Debug("Command succeeded", watermill.LogFields{"command_id": id, "topic": cmd.Topic})
		return o.result, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("socketcommand: %s %s: %w within %s: %w", cmd.Topic, id, ErrTimeout, p.cfg.Timeout, ctx.Err())
	case <-p.closed:
		return Result{}, fmt.Errorf("socketcommand: %s %s: publisher closed", cmd.Topic, id)
	}
}

// Close stops the Publisher and, unless shared, its connection.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		close(p.closed)
		p.remove()
		if p.owned {
			_ = p.client.Close()
		}
	})
	return nil
}
