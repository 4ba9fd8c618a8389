package schema

import (
	"encoding/json"
	"errors"
	"fmt"
)

// stateVersion is the version of the stored form.
const stateVersion = 1

type state struct {
	Version int   `json:"version"`
	Root    *node `json:"root"`
}

// MarshalJSON stores what was learned (not the Options), to be restored
// with UnmarshalJSON and combined with Merge. Enum candidates are stored;
// other values never are.
func (s *Schema) MarshalJSON() ([]byte, error) {
	s.lock()
	defer s.mu.Unlock()
	return json.Marshal(state{Version: stateVersion, Root: s.root})
}

// UnmarshalJSON replaces what s learned with a stored state. s keeps its
// Options (defaults for a zero Schema), and the state is cut to them: a
// stored tree is merged in under the caps, never trusted as is.
func (s *Schema) UnmarshalJSON(b []byte) error {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("schema: state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("schema: state: unsupported version %d", st.Version)
	}
	if st.Root == nil {
		return errors.New("schema: state: no root")
	}
	if err := st.Root.validate(0); err != nil {
		return fmt.Errorf("schema: state: %w", err)
	}
	s.lock()
	defer s.mu.Unlock()
	s.root = &node{}
	s.nodes = 1
	s.mergeNode(s.root, st.Root, 0)
	return nil
}

// maxStateDepth bounds recursion over a stored tree before it is cut to
// the Options.
const maxStateDepth = 256

func (n *node) validate(depth int) error {
	if depth > maxStateDepth {
		return errors.New("too deep")
	}
	for _, c := range []int64{n.N, n.Null, n.Bool, n.Int, n.Num, n.Str, n.Obj, n.Arr, n.Dropped} {
		if c < 0 {
			return errors.New("negative count")
		}
	}
	for f, c := range n.Formats {
		if c < 0 || !knownFormat(f) {
			return fmt.Errorf("unknown format %q", f)
		}
	}
	for _, c := range n.Enum {
		if c < 0 {
			return errors.New("negative count")
		}
	}
	for k, c := range n.Props {
		if c == nil {
			return fmt.Errorf("property %q: null", k)
		}
		if err := c.validate(depth + 1); err != nil {
			return err
		}
	}
	for _, c := range []*node{n.Map, n.Items} {
		if c != nil {
			if err := c.validate(depth + 1); err != nil {
				return err
			}
		}
	}
	return nil
}

func knownFormat(f string) bool {
	switch f {
	case "", FormatUUID, FormatDate, FormatDateTime, FormatEmail, FormatURI, FormatIPv4, FormatIPv6,
		FormatJWT, FormatByte, FormatBinary:
		return true
	}
	return false
}
