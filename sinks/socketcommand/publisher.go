// Package socketcommand is a sink that sends access-control commands over the
// Socket.IO access-control stream: each message becomes `command {id,
// topic, body}`, and Publish returns once the server confirms it with
// `command.result.succeed {commandId}`.
//
// A message's payload is {"topic": "door.try.open", "body": {"doorId": 1}},
// or just the body when metadata MetaTopic names the command. Invalid
// commands and serverError answers are permanent errors (poisoned at once);
// a timeout or a lost connection is transient (retried).
//
// The command id derives from the message (CommandID): every redelivery,
// retry or replay of a message sends the same id, so the panel and anyone
// reading its results can tell a re-send from a new command. The toggles
// (Toggles: door.actuate.dnd, door.actuate.forcetoggle) are not idempotent:
// one whose result did not come in time may have run, so it is not re-sent
// (a permanent error, replayable from the poison queue) unless
// Config.RetryToggleTimeouts says so. Every attempt can be recorded in the
// delivery log (Config.Log).
package socketcommand

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/socketio/client"
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
	// ErrTimeout: no result within Config.Timeout (transient, except for a
	// toggle, see Toggles).
	ErrTimeout = errors.New("no command result in time")
	// ErrServer: the server answered serverError (permanent).
	ErrServer = errors.New("server refused the command")
)

// Config configures a Publisher.
type Config struct {
	// Socket configures the connection the Publisher opens, unless Client
	// is set. A pipeline file writes its keys beside the others (inline).
	Socket client.Config `yaml:",inline"`
	// Client is an existing connection to share (e.g. a socketio.Subscriber's);
	// the Publisher then does not close it. While a sharing source applies
	// backpressure the socket is not read, so results wait (and may time
	// out) behind it: leave Client nil for a connection of the sink's own
	// when the source may fall behind.
	Client *client.Client `yaml:"-"`
	// Timeout bounds one command, from waiting for a connection to its result; 10 s when zero.
	Timeout time.Duration `yaml:"timeout"`
	// CommandEvent, ResultEvent and ErrorEvent name the events; "command",
	// "command.result.succeed" and "serverError" when empty.
	CommandEvent string `yaml:"command_event"`
	ResultEvent  string `yaml:"result_event"`
	ErrorEvent   string `yaml:"error_event"`
	// RetryToggleTimeouts lets a toggle (see Toggles) whose result did not
	// come in time be retried like any other command. Off, such a toggle is
	// a permanent error: it may have run, and running it again flips it back.
	RetryToggleTimeouts bool `yaml:"retry_toggle_timeouts"`
	// Log records every attempt; nil records nothing.
	Log deliverylog.Recorder `yaml:"-"`
}

func (c *Config) setDefaults() {
	c.Timeout = cmp.Or(c.Timeout, 10*time.Second)
	c.CommandEvent = cmp.Or(c.CommandEvent, "command")
	c.ResultEvent = cmp.Or(c.ResultEvent, "command.result.succeed")
	c.ErrorEvent = cmp.Or(c.ErrorEvent, "serverError")
}

// Validate reports what is wrong with c, each an *tributary.OptionError
// naming its key (the connection's too, unless Client is set).
func (c Config) Validate() error {
	var errs []error
	if c.Timeout < 0 {
		errs = append(errs, tributary.Option("timeout", "must not be negative"))
	}
	if c.Client == nil {
		if c.Socket.Mode == client.ModeJSON {
			errs = append(errs, tributary.Option("mode", `"json": commands need Socket.IO framing; want socketio (or leave mode out)`))
		}
		errs = append(errs, c.Socket.Validate())
	}
	return errors.Join(errs...)
}

// Command is one command to send.
type Command struct {
	// ID is sent as the command's id; a fresh UUID when empty. Publish sets
	// it to CommandID of the message (an id in the payload is ignored).
	ID    string          `json:"-"`
	Topic string          `json:"topic"`
	Body  json.RawMessage `json:"body"`
}

// Toggles are the commands that flip a state rather than set it
// ("toggles the do not disturb setting", "toggles the state of the
// device"): running one twice undoes it.
var Toggles = []string{"door.actuate.dnd", "door.actuate.forcetoggle"}

// IsToggle reports whether topic is one of Toggles.
func IsToggle(topic string) bool { return slices.Contains(Toggles, topic) }

// commandNamespace scopes the name-based UUIDs of CommandID.
var commandNamespace = uuid.MustParse("3c0e2d8a-5b7f-4e61-a1d4-9f2b6c8e7a10")

// CommandID is the id a message's command is sent with: a UUID (v5) derived
// from the sink and the message's event id (tributary.EventID: metadata
// MetaEventID, else the message UUID), both of which the router keeps on
// every redelivery, in-process retry, requeue and poison replay. Two sinks
// sending the same event get different ids.
func CommandID(sink string, msg *message.Message) string {
	return uuid.NewSHA1(commandNamespace, []byte(sink+"\x00"+tributary.EventID(msg))).String()
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
	client *client.Client
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
		c, err := client.NewClient(cfg.Socket, logger)
		if err != nil {
			return nil, err
		}
		p.client, p.owned = c, true
	}
	p.remove = p.client.Watch(p.onEvent)
	p.client.Start()
	return p, nil
}

func (p *Publisher) onEvent(ev client.Event) {
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
		e.Message = cmp.Or(e.Message, string(ev.Data))
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

// Publish sends each message's command and waits for its result. topic
// names the sink (in the command id and the delivery log): the router
// passes the sink's name (router.Sink.Name), the one place it is written.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		if err := p.publish(topic, msg); err != nil {
			return err
		}
	}
	return nil
}

func (p *Publisher) publish(name string, msg *message.Message) error {
	start := time.Now()
	cmd, err := commandOf(msg)
	if err != nil {
		err = middleware.Permanent(err)
		p.record(msg, name, start, CommandID(name, msg), err)
		return err
	}
	cmd.ID = CommandID(name, msg)
	res, err := p.Send(msg.Context(), cmd)
	p.record(msg, name, start, cmd.ID, err)
	if err != nil {
		return err
	}
	msg.Metadata.Set(MetaCommandID, res.CommandID)
	msg.Metadata.Set(MetaResultID, res.EventID)
	return nil
}

// record writes one attempt to the delivery log, in a statement of its own
// after the command's outcome is known.
func (p *Publisher) record(msg *message.Message, name string, start time.Time, id string, err error) {
	if p.cfg.Log == nil {
		return
	}
	a := deliverylog.Attempt{
		Time:        start,
		Pipeline:    msg.Metadata.Get(tributary.MetaPipeline),
		Sink:        name,
		Endpoint:    p.client.LogURL(),
		EventID:     tributary.EventID(msg),
		MessageUUID: msg.UUID,
		Attempt:     middleware.Attempts(msg) + 1,
		Latency:     time.Since(start),
		Outcome:     deliverylog.OutcomeSuccess,
	}
	if err != nil {
		a.Outcome, a.Error = deliverylog.OutcomeTransient, err.Error()
		if middleware.IsPermanent(err) {
			a.Outcome = deliverylog.OutcomePermanent
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(msg.Context()), 5*time.Second)
	defer cancel()
	if err := p.cfg.Log.Record(ctx, a); err != nil {
		p.logger.Error("Recording command attempt failed", err, watermill.LogFields{"event_id": a.EventID, "command_id": id})
	}
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

// Send validates cmd, emits it with cmd.ID (a fresh UUID when empty) and
// waits for its result. Errors are transient or middleware.Permanent as the
// package doc says.
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
	id := cmp.Or(cmd.ID, uuid.NewString())
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
	// From here the panel may have the command: without a result we cannot
	// know whether it ran.
	var unknown error
	select {
	case o := <-ch:
		if o.err != nil {
			p.logger.Error("Command refused", o.err, watermill.LogFields{"command_id": id, "topic": cmd.Topic})
			return Result{}, middleware.Permanent(fmt.Errorf("socketcommand: %s %s: %w", cmd.Topic, id, o.err))
		}
		p.logger.Debug("Command succeeded", watermill.LogFields{"command_id": id, "topic": cmd.Topic})
		return o.result, nil
	case <-ctx.Done():
		unknown = fmt.Errorf("socketcommand: %s %s: %w within %s: %w", cmd.Topic, id, ErrTimeout, p.cfg.Timeout, ctx.Err())
	case <-p.closed:
		unknown = fmt.Errorf("socketcommand: %s %s: %w: publisher closed", cmd.Topic, id, ErrTimeout)
	}
	if IsToggle(cmd.Topic) && !p.cfg.RetryToggleTimeouts {
		p.logger.Error("Toggle command got no result; not re-sent, it may have run", unknown,
			watermill.LogFields{"command_id": id, "topic": cmd.Topic})
		return Result{}, middleware.Permanent(fmt.Errorf("%w (a toggle is not re-sent: it may have run, and a second run undoes it)", unknown))
	}
	return Result{}, unknown
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
	if p.cfg.Log != nil {
		return deliverylog.Flush(p.cfg.Log)
	}
	return nil
}
