package webhookin

// EventFields exposes the body parser to the fuzz test.
var EventFields = eventFields
