package scenario

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Durations in JSON are Go duration text ("24h", "1h30m", "15m"), as
// people write them; a bare number is nanoseconds, as encoding/json would
// otherwise read a time.Duration.

type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("a duration is text such as \"24h\" or \"15m\", got %s", b)
		}
		*d = duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil && durationText.MatchString(s):
		// Of the form, too long for a time.Duration: the limit, not the
		// parser's word.
		return fmt.Errorf("%q is beyond the limit of 3660 days (MaxDuration)", s)
	case err != nil:
		return fmt.Errorf("%q is not a duration such as \"24h\" or \"15m\"", s)
	}
	*d = duration(v)
	return nil
}

// durationText is the form of what time.ParseDuration reads.
var durationText = regexp.MustCompile(`^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$`)

// MarshalJSON implements json.Marshaler, durations as text.
func (e Entry) MarshalJSON() ([]byte, error) {
	type plain Entry
	return json.Marshal(struct {
		plain
		Cooldown duration `json:"cooldown,omitempty"`
	}{plain(e), duration(e.Cooldown)})
}

// UnmarshalJSON implements json.Unmarshaler, durations as text.
func (e *Entry) UnmarshalJSON(b []byte) error {
	type plain Entry
	v := struct {
		*plain
		Cooldown duration `json:"cooldown,omitempty"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	e.Cooldown = time.Duration(v.Cooldown)
	return nil
}

// MarshalJSON implements json.Marshaler, durations as text.
func (t Timing) MarshalJSON() ([]byte, error) {
	type plain Timing
	return json.Marshal(struct {
		plain
		After duration `json:"after,omitempty"`
		Min   duration `json:"min,omitempty"`
		Max   duration `json:"max,omitempty"`
	}{plain(t), duration(t.After), duration(t.Min), duration(t.Max)})
}

// UnmarshalJSON implements json.Unmarshaler, durations as text.
func (t *Timing) UnmarshalJSON(b []byte) error {
	type plain Timing
	v := struct {
		*plain
		After duration `json:"after,omitempty"`
		Min   duration `json:"min,omitempty"`
		Max   duration `json:"max,omitempty"`
	}{plain: (*plain)(t)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t.After, t.Min, t.Max = time.Duration(v.After), time.Duration(v.Min), time.Duration(v.Max)
	return nil
}

// MarshalJSON implements json.Marshaler, durations as text.
func (s ReminderStep) MarshalJSON() ([]byte, error) {
	type plain ReminderStep
	return json.Marshal(struct {
		plain
		Before duration `json:"before,omitempty"`
	}{plain(s), duration(s.Before)})
}

// UnmarshalJSON implements json.Unmarshaler, durations as text.
func (s *ReminderStep) UnmarshalJSON(b []byte) error {
	type plain ReminderStep
	v := struct {
		*plain
		Before duration `json:"before,omitempty"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	s.Before = time.Duration(v.Before)
	return nil
}
