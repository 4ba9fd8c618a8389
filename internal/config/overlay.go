package config

import (
	"bytes"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// OverlayKeys are the top-level keys a control plane may distribute to data
// planes. Each replaces the local file's key of the same name; everything
// else (listeners, storage, bus, events) stays local to each data plane.
var OverlayKeys = []string{"mode", "routes", "protect", "identity", "policies"}

// Overlay merges overlay YAML onto base YAML (top-level keys replaced) and
// returns the merged document. An overlay with any other key, or that is
// not a mapping, is an error naming the key.
func Overlay(base, overlay []byte) ([]byte, error) {
	var b, o yaml.Node
	if err := yaml.Unmarshal(base, &b); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(overlay)) == 0 {
		return base, nil
	}
	if err := yaml.Unmarshal(overlay, &o); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	if o.Kind != yaml.DocumentNode || len(o.Content) == 0 || o.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("overlay: expected a mapping of %v", OverlayKeys)
	}
	if b.Kind != yaml.DocumentNode || len(b.Content) == 0 || b.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("base config is not a mapping")
	}
	bm, om := b.Content[0], o.Content[0]
	for i := 0; i+1 < len(om.Content); i += 2 {
		k, v := om.Content[i], om.Content[i+1]
		if !slices.Contains(OverlayKeys, k.Value) {
			return nil, fmt.Errorf("overlay:%d: %s: not distributable (allowed: %v)", k.Line, k.Value, OverlayKeys)
		}
		replaced := false
		for j := 0; j+1 < len(bm.Content); j += 2 {
			if bm.Content[j].Value == k.Value {
				bm.Content[j+1] = v
				replaced = true
			}
		}
		if !replaced {
			bm.Content = append(bm.Content, k, v)
		}
	}
	return yaml.Marshal(&b)
}

// LoadWithOverlay loads the file at path with an overlay applied (nil: the
// file alone). Errors in the merged document name the file.
func LoadWithOverlay(path string, overlay []byte) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(overlay) == 0 {
		return Parse(data, path)
	}
	merged, err := Overlay(data, overlay)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(merged, path+" (with control-plane overlay)")
	if err != nil {
		return nil, err
	}
	// Reloads read the file again: keep its real name.
	cfg.File = path
	return cfg, nil
}
