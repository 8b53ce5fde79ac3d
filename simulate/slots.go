package simulate

// Slots for the simulators still being written, each to be added as one file
// calling Register from init:
//
//   - socketio.go: a Socket.IO 2.x / Engine.IO 3 server on /socket.io/
//     pushing door events to connected clients.
//
// Each gets the shared Config (Seed, EventInterval, Logger) and mounts its
// routes on the simulator server, so the quickstart file can point every
// source at one address.
