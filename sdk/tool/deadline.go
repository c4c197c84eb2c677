package tool

// Deadlines: a tool's timeout parameter resolved as ms-enclave's tools do.

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Deadline is a resolved tool deadline.
type Deadline struct {
	// D is the deadline to enforce (never 0: "none" means the operator bound).
	D time.Duration
	// Text renders the deadline in messages as the request wrote it.
	Text string
}

// DeadlineRule says what an omitted, null or 0 timeout means.
type DeadlineRule struct {
	Default     time.Duration // used when omitted (and for null/0 unless NoneOnNull)
	DefaultText string
	// NoneOnNull: null and 0 mean "no in-sandbox deadline" (only the
	// operator's bound), as for python_executor and shell_executor.
	NoneOnNull bool
}

// ParseDeadline resolves a timeout parameter (seconds, any JSON number) as
// ms-enclave's tools do. raw is nil when the parameter was omitted. max is the
// operator bound, which also caps any requested value.
func ParseDeadline(raw json.RawMessage, rule DeadlineRule, max time.Duration) Deadline {
	maxD := Deadline{D: max, Text: SecondsText(max)}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		if rule.Default > 0 && (max <= 0 || rule.Default <= max) {
			return Deadline{D: rule.Default, Text: rule.DefaultText}
		}
		return maxD
	}
	if string(raw) == "null" {
		if rule.NoneOnNull {
			return maxD
		}
		return ParseDeadline(nil, rule, max)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f <= 0 {
		if rule.NoneOnNull {
			return maxD
		}
		return ParseDeadline(nil, rule, max)
	}
	d := time.Duration(f * float64(time.Second))
	if max > 0 && d > max {
		return maxD
	}
	return Deadline{D: d, Text: string(raw)}
}

// SecondsText renders a duration as whole seconds when it is whole.
func SecondsText(d time.Duration) string {
	s := d.Seconds()
	if s == float64(int64(s)) {
		return strconv.FormatInt(int64(s), 10)
	}
	return strconv.FormatFloat(s, 'f', -1, 64)
}
