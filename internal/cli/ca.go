package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/pki"
)

func caCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "ca",
		Short: "Run the certificate authority of workload identities (SPIFFE X509-SVIDs)",
		Long: `A root CA and an intermediate CA for one SPIFFE trust domain, kept as files
in one directory, issuing X509-SVIDs: certificates whose one URI SAN is a
workload's SPIFFE ID, for mTLS. See docs/pki.md.`,
		Args: cobra.NoArgs,
		// Runnable, so that an unknown subcommand is a usage error.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(caInitCmd(e), caIssueCmd(e), caRotateCmd(e), caShowCmd(e))
	return c
}

// required is the usage error of a flag left out or empty.
func required(flag, value, arg string) error {
	if strings.TrimSpace(value) == "" {
		return fmt.Errorf("--%s %s is required", flag, arg)
	}
	return nil
}

// caLoadError explains a CA that did not load.
func caLoadError(dir string, err error) error {
	if errors.Is(err, pki.ErrNoCA) {
		return problem(fmt.Errorf("%v (vigil ca init --dir %s creates one)", err, dir))
	}
	return problem(err)
}

func caInitCmd(e *env) *cobra.Command {
	var dir, td, profile string
	var force bool
	c := &cobra.Command{
		Use:   "init --dir DIR --trust-domain TD [--profile ecdsa-p256|ed25519|rsa-3072] [--force]",
		Short: "Create a root CA, an intermediate CA and the trust bundle in DIR",
		Long: `Creates DIR (mode 0700) with root.crt and root.key (the root CA, 10 years),
intermediate.crt and intermediate.key (the issuing CA, 1 year, signed by the
root), bundle.pem (the trust bundle to give every peer) and ca.json. Keys
are PKCS#8 PEM, mode 0600. A CA already in DIR is kept unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := required("dir", dir, "DIR"); err != nil {
				return err
			}
			if err := required("trust-domain", td, "TD"); err != nil {
				return err
			}
			if err := pki.ValidateTrustDomain(td); err != nil {
				return fmt.Errorf("--trust-domain: %w", err)
			}
			p, err := pki.ParseProfile(profile)
			if err != nil {
				return fmt.Errorf("--profile: %w", err)
			}
			ca, err := pki.Init(dir, td, pki.InitOptions{Profile: p, Force: force})
			if errors.Is(err, pki.ErrExists) {
				return problem(fmt.Errorf("%v; --force replaces it (the SVIDs it issued then stop verifying)", err))
			}
			if err != nil {
				return problem(err)
			}
			fmt.Fprintf(e.stdout, "created the CA of trust domain %s (%s) in %s\n", ca.TrustDomain, ca.Profile, dir)
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "  root\t%s\tuntil %s\n", filepath.Join(dir, pki.RootCertFile), stamp(ca.Root.NotAfter))
			fmt.Fprintf(w, "  intermediate\t%s\tuntil %s\n", filepath.Join(dir, pki.IntermediateCertFile), stamp(ca.Intermediate.NotAfter))
			fmt.Fprintf(w, "  trust bundle\t%s\t\n", filepath.Join(dir, pki.BundleFile))
			return w.Flush()
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "", "CA directory (created, mode 0700)")
	f.StringVar(&td, "trust-domain", "", "SPIFFE trust domain, e.g. prod.example.com")
	f.StringVar(&profile, "profile", string(pki.ECDSAP256), "key algorithm: ecdsa-p256, ed25519 or rsa-3072")
	f.BoolVar(&force, "force", false, "replace a CA already in DIR")
	return c
}

func caIssueCmd(e *env) *cobra.Command {
	var dir, spiffeID, out string
	var ttl time.Duration
	c := &cobra.Command{
		Use:   "issue --dir DIR --spiffe-id ID --out PREFIX [--ttl 24h]",
		Short: "Issue an X509-SVID: PREFIX.crt (leaf, then intermediate) and PREFIX.key",
		Long: `Issues an X509-SVID for a workload's SPIFFE ID, of the CA's trust domain:
PREFIX.crt holds the leaf certificate then the intermediate (PEM), PREFIX.key
a new key of the CA's profile (PKCS#8 PEM, mode 0600). The lifetime is --ttl,
cut short at the intermediate's end.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			for _, r := range [][3]string{{"dir", dir, "DIR"}, {"spiffe-id", spiffeID, "ID"}, {"out", out, "PREFIX"}} {
				if err := required(r[0], r[1], r[2]); err != nil {
					return err
				}
			}
			if ttl <= 0 {
				return fmt.Errorf("--ttl %s: the lifetime must be positive", ttl)
			}
			id, err := pki.ParseSPIFFEID(spiffeID)
			if err != nil {
				return fmt.Errorf("--spiffe-id: %w", err)
			}
			if !id.IsWorkload() {
				return fmt.Errorf("--spiffe-id %s names a trust domain, not a workload: give a path, e.g. %s/ns/default/sa/web", id, id)
			}
			ca, err := pki.Load(dir)
			if err != nil {
				return caLoadError(dir, err)
			}
			if inside(ca.Dir(), out) {
				return problem(fmt.Errorf("--out %s is inside the CA directory %s: write SVIDs elsewhere", out, dir))
			}
			start := time.Now()
			svid, err := ca.IssueSVID(id.String(), nil, ttl)
			if err != nil {
				return problem(err)
			}
			if err := svid.WriteFiles(out); err != nil {
				return problem(err)
			}
			c := svid.Cert
			fmt.Fprintf(e.stdout, "issued %s until %s (serial %s)\n", svid.ID, stamp(c.NotAfter), pki.Serial(c))
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "  %s\tleaf and intermediate\n", out+".crt")
			fmt.Fprintf(w, "  %s\tprivate key (PKCS#8, mode 0600)\n", out+".key")
			if err := w.Flush(); err != nil {
				return err
			}
			if c.NotAfter.Before(start.Add(ttl).Add(-time.Minute)) {
				fmt.Fprintf(e.stderr, "vigil: note: the lifetime was cut short at the intermediate's end, %s: vigil ca rotate --dir %s\n", stamp(ca.Intermediate.NotAfter), dir)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "", "CA directory")
	f.StringVar(&spiffeID, "spiffe-id", "", "the workload's SPIFFE ID, e.g. spiffe://prod.example.com/ns/shop/sa/web")
	f.StringVar(&out, "out", "", "write PREFIX.crt and PREFIX.key")
	f.DurationVar(&ttl, "ttl", pki.DefaultSVIDTTL, "lifetime of the SVID")
	return c
}

// inside reports whether the files PREFIX.* would be in dir.
func inside(dir, prefix string) bool {
	a, err := os.Stat(dir)
	if err != nil {
		return false
	}
	b, err := os.Stat(filepath.Dir(prefix))
	return err == nil && os.SameFile(a, b)
}

func caRotateCmd(e *env) *cobra.Command {
	var dir string
	var root bool
	c := &cobra.Command{
		Use:   "rotate --dir DIR [--root]",
		Short: "Replace the intermediate CA (with --root, the root too), keeping old SVIDs valid",
		Long: `Makes a new intermediate CA signed by the root; with --root, a new root as
well. bundle.pem then holds the new root first and the old one after it, so
that SVIDs issued before the rotation keep verifying until they expire; the
old root leaves the bundle at a rotation after the last of them has. Give the
new bundle.pem to every peer before issuing from the new root.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := required("dir", dir, "DIR"); err != nil {
				return err
			}
			ca, err := pki.Rotate(dir, pki.RotateOptions{Root: root})
			if err != nil {
				return caLoadError(dir, err)
			}
			what := "the intermediate"
			if root {
				what = "the root and the intermediate"
			}
			fmt.Fprintf(e.stdout, "rotated %s of trust domain %s\n", what, ca.TrustDomain)
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			if root {
				fmt.Fprintf(w, "  root\tserial %s\tuntil %s\n", pki.Serial(ca.Root), stamp(ca.Root.NotAfter))
			}
			fmt.Fprintf(w, "  intermediate\tserial %s\tuntil %s\n", pki.Serial(ca.Intermediate), stamp(ca.Intermediate.NotAfter))
			fmt.Fprintf(w, "  trust bundle\t%s\t%s\n", filepath.Join(dir, pki.BundleFile), plural(len(ca.Bundle), "root"))
			for _, p := range ca.State.PreviousRoots {
				fmt.Fprintf(w, "    previous root\tserial %s\tkept until %s\n", p.Serial, stamp(p.KeepUntil))
			}
			return w.Flush()
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "CA directory")
	c.Flags().BoolVar(&root, "root", false, "make a new root as well")
	return c
}

// caShow is what vigil ca show --format json prints.
type caShow struct {
	Dir           string             `json:"dir"`
	TrustDomain   string             `json:"trust_domain"`
	Profile       pki.Profile        `json:"profile"`
	Serials       string             `json:"serials"`
	Root          pki.CertInfo       `json:"root"`
	RootKey       bool               `json:"root_key"`
	Intermediate  pki.CertInfo       `json:"intermediate"`
	Bundle        []pki.CertInfo     `json:"bundle"`
	PreviousRoots []pki.PreviousRoot `json:"previous_roots"`
	Created       time.Time          `json:"created"`
	Rotated       time.Time          `json:"rotated,omitzero"`
}

func caShowCmd(e *env) *cobra.Command {
	var dir, format string
	c := &cobra.Command{
		Use:   "show --dir DIR [--format text|json]",
		Short: "Print the CA: trust domain, profile, root, intermediate and bundle",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := required("dir", dir, "DIR"); err != nil {
				return err
			}
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			ca, err := pki.Load(dir)
			if err != nil {
				return caLoadError(dir, err)
			}
			_, keyErr := os.Stat(filepath.Join(dir, pki.RootKeyFile))
			s := caShow{
				Dir: dir, TrustDomain: ca.TrustDomain, Profile: ca.Profile, Serials: ca.State.Serials,
				Root: pki.Info(ca.Root), RootKey: keyErr == nil, Intermediate: pki.Info(ca.Intermediate),
				PreviousRoots: ca.State.PreviousRoots, Created: ca.State.Created, Rotated: ca.State.Rotated,
			}
			if s.PreviousRoots == nil {
				s.PreviousRoots = []pki.PreviousRoot{}
			}
			for _, c := range ca.Bundle {
				s.Bundle = append(s.Bundle, pki.Info(c))
			}
			if format == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return showText(e.stdout, &s)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "CA directory")
	c.Flags().StringVarP(&format, "format", "f", "text", "output: text or json")
	return c
}

func showText(out io.Writer, s *caShow) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	now := time.Now()
	cert := func(name string, c pki.CertInfo) {
		fmt.Fprintf(w, "%s\t%s\n", name, c.Subject)
		fmt.Fprintf(w, "  serial\t%s\n", c.Serial)
		fmt.Fprintf(w, "  valid\t%s to %s%s\n", stamp(c.NotBefore), stamp(c.NotAfter), expiry(now, c.NotAfter))
		fmt.Fprintf(w, "  sha256\t%s\n", c.SHA256)
	}
	fmt.Fprintf(w, "trust domain\t%s\n", s.TrustDomain)
	fmt.Fprintf(w, "profile\t%s\n", s.Profile)
	fmt.Fprintf(w, "directory\t%s\n", s.Dir)
	cert("root", s.Root)
	if !s.RootKey {
		fmt.Fprintf(w, "  key\tnot in the directory (offline): no rotation\n")
	}
	cert("intermediate", s.Intermediate)
	fmt.Fprintf(w, "bundle\t%s\n", plural(len(s.Bundle), "root"))
	if err := w.Flush(); err != nil {
		return err
	}
	for i, c := range s.Bundle {
		note := "current root"
		if i > 0 {
			note = "previous root"
			for _, p := range s.PreviousRoots {
				if p.SHA256 == c.SHA256 {
					note += ", kept until " + stamp(p.KeepUntil)
				}
			}
		}
		if _, err := fmt.Fprintf(out, "  %s: serial %s, sha256 %s\n", note, c.Serial, c.SHA256); err != nil {
			return err
		}
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func expiry(now, notAfter time.Time) string {
	switch d := notAfter.Sub(now); {
	case d <= 0:
		return " (EXPIRED)"
	case d < 30*24*time.Hour:
		return fmt.Sprintf(" (expires in %d days)", int(d.Hours()/24))
	}
	return ""
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
