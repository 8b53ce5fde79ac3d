package socketcommand

import (
	"encoding/json"
	"testing"
)

// FuzzValidate: any topic and body either fail with ErrInvalidCommand or
// yield a canonical body that validates again to itself.
func FuzzValidate(f *testing.F) {
	f.Add("door.try.open", `{"doorId":1}`)
	f.Add("door.try.dwellopen", `{"doorId":6,"dwell":30}`)
	f.Add("endpoint.discover", `{}`)
	f.Add("endpoint.querysignal", `{"ioLinkId":1,"address":"0013a200400a393b","actuateRelay":false,"relayDwell":5}`)
	f.Add("door.actuate.open", `{"doorID":1}`)
	f.Add("door.actuate.open", `null`)
	f.Fuzz(func(t *testing.T, topic, body string) {
		out, err := Validate(topic, json.RawMessage(body))
		if err != nil {
			return
		}
		again, err := Validate(topic, out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("canonical body %s does not validate to itself: %s, %v", out, again, err)
		}
	})
}
