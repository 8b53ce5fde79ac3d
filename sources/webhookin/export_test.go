package webhookin

import "github.com/tributary-dev/tributary"

// EventFields exposes the body parser to the fuzz test.
var EventFields = tributary.EventFields
