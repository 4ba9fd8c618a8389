package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// KeyFile is the signing key's file name in data_dir.
const KeyFile = "audit.key"

// algEd25519 is the note key type byte of Ed25519.
const algEd25519 = 1

// recordDomain separates record signatures from every other use of the
// key (notes sign their text with the same key).
const recordDomain = "vigil.audit.record.v1\n"

// Key is an Ed25519 signing key: it signs records (Ed25519 over
// recordDomain and the canonical record) and checkpoints (sumdb notes).
type Key struct {
	// ID is the key id: the first 16 bytes of the SHA-256 of the public
	// key, in hex. Records name their signer by it.
	ID string
	// Verifier is the public key as a note verifier key
	// (name+hash+base64), what audit.trusted_keys lists.
	Verifier string
	priv     ed25519.PrivateKey
	signer   note.Signer
}

// PublicKey is the key's public half.
type PublicKey struct {
	ID       string
	Name     string
	Verifier string
	pub      ed25519.PublicKey
	note     note.Verifier
}

// KeyID is the id of an Ed25519 public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// GenerateKey makes a new key named name (a note key name: no spaces, no
// plus signs) and returns it with its encoded private form, the content
// of a key file.
func GenerateKey(name string) (*Key, string, error) {
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, "", fmt.Errorf("audit: generate key: %w", err)
	}
	k, err := ParseKey(skey)
	return k, skey, err
}

// ParseKey reads an encoded note signer key ("PRIVATE+KEY+name+hash+data").
func ParseKey(skey string) (*Key, error) {
	skey = strings.TrimSpace(skey)
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	// name+hash+data: the name has no plus sign, the hash is hex, the
	// base64 data may hold plus signs.
	parts := strings.SplitN(strings.TrimPrefix(skey, "PRIVATE+KEY+"), "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("audit: key: malformed")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != algEd25519 {
		return nil, errors.New("audit: key: not an Ed25519 note key")
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	pub := priv.Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	return &Key{ID: KeyID(pub), Verifier: vkey, priv: priv, signer: signer}, nil
}

// Name is the key's note name.
func (k *Key) Name() string { return k.signer.Name() }

// Public is the key's public half.
func (k *Key) Public() PublicKey {
	p, _ := ParsePublicKey(k.Verifier) // made by ParseKey: valid
	return p
}

// sign signs a canonical record.
func (k *Key) sign(record []byte) []byte {
	return ed25519.Sign(k.priv, append([]byte(recordDomain), record...))
}

// ParsePublicKey reads a note verifier key ("name+hash+base64").
func ParsePublicKey(vkey string) (PublicKey, error) {
	vkey = strings.TrimSpace(vkey)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return PublicKey{}, fmt.Errorf("audit: verifier key: %w", err)
	}
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return PublicKey{}, errors.New("audit: verifier key: malformed")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return PublicKey{}, errors.New("audit: verifier key: not an Ed25519 note key")
	}
	pub := ed25519.PublicKey(raw[1:])
	return PublicKey{ID: KeyID(pub), Name: v.Name(), Verifier: vkey, pub: pub, note: v}, nil
}

// verify checks a record signature.
func (p PublicKey) verify(record, sig []byte) bool {
	return ed25519.Verify(p.pub, append([]byte(recordDomain), record...), sig)
}

// LoadOrCreateKey reads the key file at path, or creates it (mode 0600,
// the directory 0700 if missing) with a new key named name. Several
// processes starting at once end up with the same key: the file appears
// whole (written aside, then linked into place) or not at all. A key file
// that others may read is refused.
func LoadOrCreateKey(path, name string) (*Key, error) {
	k, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	_, skey, err := GenerateKey(name)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	if _, err := tmp.WriteString(skey + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("audit: key: %w", err)
	}
	return readKey(path) // ours, or the one another process linked first
}

// LoadKey reads the key file at path (fs.ErrNotExist wrapped when there
// is none), refusing one that others may read.
func LoadKey(path string) (*Key, error) { return readKey(path) }

func readKey(path string) (*Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit: key %s has mode %v: it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
