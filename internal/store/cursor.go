package store

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Cursors are opaque to callers: base64url of a small JSON array whose first
// element names the list it belongs to, so a cursor from one list is
// rejected by another. They carry the sort key of the last item returned
// (keyset pagination), which keeps pages stable while rows are inserted.

const (
	cursorEvents    = "ev1"
	cursorEndpoints = "ep1"
	maxCursorLen    = 4096
)

// eventCursor is the position after an event in newest-first order: its
// time and its insertion sequence number.
type eventCursor struct {
	TimeNS int64
	Seq    int64
}

func encodeEventCursor(c eventCursor) string {
	return encodeCursor([]any{cursorEvents, c.TimeNS, c.Seq})
}

func decodeEventCursor(s string) (eventCursor, error) {
	var parts []json.RawMessage
	if err := decodeCursor(s, cursorEvents, 3, &parts); err != nil {
		return eventCursor{}, err
	}
	var c eventCursor
	if json.Unmarshal(parts[1], &c.TimeNS) != nil || json.Unmarshal(parts[2], &c.Seq) != nil {
		return eventCursor{}, ErrBadCursor
	}
	return c, nil
}

// endpointCursor is the position after an endpoint in host, path, method order.
type endpointCursor struct {
	Host, Path, Method string
}

func encodeEndpointCursor(c endpointCursor) string {
	return encodeCursor([]any{cursorEndpoints, c.Host, c.Path, c.Method})
}

func decodeEndpointCursor(s string) (endpointCursor, error) {
	var parts []json.RawMessage
	if err := decodeCursor(s, cursorEndpoints, 4, &parts); err != nil {
		return endpointCursor{}, err
	}
	var c endpointCursor
	if json.Unmarshal(parts[1], &c.Host) != nil || json.Unmarshal(parts[2], &c.Path) != nil ||
		json.Unmarshal(parts[3], &c.Method) != nil {
		return endpointCursor{}, ErrBadCursor
	}
	return c, nil
}

func encodeCursor(v []any) string {
	b, _ := json.Marshal(v) // strings and integers only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, kind string, n int, parts *[]json.RawMessage) error {
	if len(s) > maxCursorLen {
		return ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return ErrBadCursor
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(parts); err != nil || d.More() || len(*parts) != n {
		return ErrBadCursor
	}
	var k string
	if json.Unmarshal((*parts)[0], &k) != nil || k != kind {
		return ErrBadCursor
	}
	return nil
}

// union returns the sorted, de-duplicated union of a and b, without empty
// strings. It never returns nil.
func union(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	for _, s := range a {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, s := range b {
		if s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortRows(rows []eventRow) {
	slices.SortFunc(rows, func(a, b eventRow) int { return strings.Compare(a.txnID, b.txnID) })
}

func sortEndpoints(eps []Endpoint) {
	slices.SortFunc(eps, func(a, b Endpoint) int { return strings.Compare(a.ID, b.ID) })
}

// fromNS turns stored unix nanoseconds back into a UTC time.
func fromNS(ns int64) time.Time { return time.Unix(0, ns).UTC() }
