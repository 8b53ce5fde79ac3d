package components

import (
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/socketcommand"
	"github.com/tributary-dev/tributary/socketio/client"
)

// The socketcommand sink sends each message as a Socket.IO `command` to an
// access-control stream's server and acks it once the server confirms with command.result.succeed. It
// always opens a connection of its own: a socketio source sharing it would
// stop reading the socket under backpressure and so delay (and time out)
// command results, and sinks and sources may live in different pipelines.
func init() {
	RegisterSink("socketcommand", "sends access-control commands over Socket.IO and waits for their result",
		func(env Env, o *SocketCommandOptions) (message.Publisher, error) {
			cfg := o.Config(env.Pipeline + "/" + env.Name)
			cfg.Name = env.Name
			if env.Pool != nil && (o.DeliveryLog == nil || *o.DeliveryLog) {
				cfg.Log = deliverylog.NewPostgres(env.Pool)
			}
			return socketcommand.NewPublisher(cfg, env.Logger)
		})
}

// SocketCommandOptions configures the socketcommand sink.
type SocketCommandOptions struct {
	SocketOptions `yaml:",inline"`
	// Timeout bounds one command, from waiting for the connection to its result (10s).
	Timeout time.Duration `yaml:"timeout"`
	// Event names; command, command.result.succeed and serverError when empty.
	CommandEvent string `yaml:"command_event"`
	ResultEvent  string `yaml:"result_event"`
	ErrorEvent   string `yaml:"error_event"`
	// RetryToggleTimeouts retries a toggle (door.actuate.dnd,
	// door.actuate.forcetoggle) whose result did not come in time; off, it
	// is poisoned (it may have run, and a second run undoes it).
	RetryToggleTimeouts bool `yaml:"retry_toggle_timeouts"`
	// DeliveryLog records every attempt in tributary_delivery_attempts; on
	// unless set to false.
	DeliveryLog *bool `yaml:"delivery_log"`
}

// Validate implements Validator; messages name the file's keys.
func (o *SocketCommandOptions) Validate() error {
	errs := o.SocketOptions.validate()
	if o.Mode == string(client.ModeJSON) {
		errs = append(errs, errors.New(`mode "json": commands need Socket.IO framing; want socketio (or leave mode out)`))
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("timeout must not be negative"))
	}
	if len(errs) > 0 {
		return joinProblems(errs)
	}
	// The library's own checks as a backstop (they name Go fields).
	return o.Config("validate").Validate()
}

// Config maps the options onto the sink's Config; name labels logs and metrics.
func (o *SocketCommandOptions) Config(name string) socketcommand.Config {
	return socketcommand.Config{Socket: o.SocketOptions.client(name), Timeout: o.Timeout,
		CommandEvent: o.CommandEvent, ResultEvent: o.ResultEvent, ErrorEvent: o.ErrorEvent,
		RetryToggleTimeouts: o.RetryToggleTimeouts}
}
