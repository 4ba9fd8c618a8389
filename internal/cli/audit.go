package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/internal/audit"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/store"
)

func auditCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Verify the tamper-evident audit log; print proofs, checkpoints and lineage",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(auditVerifyCmd(e), auditProofCmd(e), auditCheckpointCmd(e), auditLineageCmd(e), auditWitnessCmd(e))
	return c
}

// auditStateFile is where verify keeps the checkpoints it has seen,
// unless --state says otherwise.
const auditStateFile = "audit-verify.json"

func auditVerifyCmd(e *env) *cobra.Command {
	var state string
	var asJSON, pinned bool
	var witnessKeys []string
	c := configCmd(e, "verify", "Recompute the audit log from the stored records and check every signature and checkpoint",
		func(ctx context.Context, cfg *config.Config) error {
			if state == "" {
				state = filepath.Join(cfg.DataDir, auditStateFile)
			}
			var ws []audit.PublicKey
			for _, f := range witnessKeys {
				w, err := audit.LoadWitnessKey(f)
				if err != nil {
					return problem(fmt.Errorf("--witness-key: %w", err))
				}
				ws = append(ws, w)
			}
			return runAuditVerify(ctx, e.stdout, cfg, state, asJSON, pinned || cfg.Audit.RequirePinned, ws)
		})
	c.Long = `Opens the store named in the config (also while vigil up runs), recomputes
the Merkle tree from the stored records and checks: every entry present, in
order, signed by a trusted key (data_dir/audit.key and audit.trusted_keys),
unchanged since it was appended; every checkpoint signed by a trusted key with
the root of the recomputed tree; and that the checkpoints this command saw
before (kept in --state, default data_dir/` + auditStateFile + `) are still
contained in the log (consistency proofs). Names the first bad entry and
exits 1 when anything is wrong.`
	c.Flags().StringVar(&state, "state", "", "file of the checkpoints seen by earlier runs (default data_dir/"+auditStateFile+")")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().StringArrayVar(&witnessKeys, "witness-key", nil, "a witness's verifier key file (repeatable): require a checkpoint co-signed by it")
	c.Flags().BoolVar(&pinned, "require-pinned", false, "accept data-plane (hop) keys only when audit.trusted_keys pins them (default: audit.require_pinned)")
	return c
}

// trustedKeys are the local signing key (when its file exists) and the
// configured ones.
func trustedKeys(cfg *config.Config) ([]audit.PublicKey, error) {
	var keys []audit.PublicKey
	k, err := audit.LoadKey(cfg.AuditKeyPath())
	switch {
	case err == nil:
		keys = append(keys, k.Public())
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	for i, v := range cfg.Audit.TrustedKeys {
		p, err := audit.ParsePublicKey(v)
		if err != nil {
			return nil, fmt.Errorf("audit.trusted_keys[%d]: %w", i, err)
		}
		keys = append(keys, p)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no trusted key: %s does not exist and audit.trusted_keys is empty", cfg.AuditKeyPath())
	}
	return keys, nil
}

func openAuditStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	st, err := store.Open(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, problem(fmt.Errorf("store: %w", err))
	}
	return st, nil
}

func runAuditVerify(ctx context.Context, out io.Writer, cfg *config.Config, statePath string, asJSON, pinned bool, witnesses []audit.PublicKey) error {
	keys, err := trustedKeys(cfg)
	if err != nil {
		return problem(err)
	}
	seen, err := audit.LoadState(statePath)
	if err != nil {
		return problem(err)
	}
	if seen.Origin != "" && seen.Origin != cfg.Audit.Origin {
		return problem(fmt.Errorf("%s holds checkpoints of log %q, not %q", statePath, seen.Origin, cfg.Audit.Origin))
	}
	st, err := openAuditStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := audit.Verify(ctx, st, audit.VerifyOptions{Origin: cfg.Audit.Origin, Keys: keys, Seen: seen.Seen, RequirePinned: pinned,
		Witnesses: witnesses})
	if err != nil {
		return problem(err)
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "audit log %s: %d entries, root %s, %d checkpoints\n", cfg.Audit.Origin, rep.Entries,
			base64.StdEncoding.EncodeToString(rep.Root), rep.Checkpoints)
		if rep.Latest != nil {
			fmt.Fprintf(out, "latest checkpoint: size %d, signed by key %s\n", rep.Latest.Size, rep.Latest.KeyID)
		}
		for _, w := range witnesses {
			if size, ok := rep.Witnessed[w.ID]; ok {
				fmt.Fprintf(out, "co-signed by witness %s (%s) up to size %d\n", w.Name, w.ID, size)
			}
		}
		if len(seen.Seen) > 0 {
			fmt.Fprintf(out, "checkpoints seen before: %d (up to size %d)\n", len(seen.Seen), seen.Seen[len(seen.Seen)-1].Size)
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(out, "FAIL  %s\n", p)
		}
	}
	if first, bad := rep.First(); bad {
		return problem(fmt.Errorf("the audit log does not verify: %s (%d problems)", first, len(rep.Problems)))
	}
	if rep.Latest != nil {
		seen.Origin = cfg.Audit.Origin
		seen.Remember(*rep.Latest)
		if err := seen.Save(statePath); err != nil {
			return problem(fmt.Errorf("the log verifies, but the state is not saved: %w", err))
		}
	}
	if !asJSON {
		fmt.Fprintln(out, "OK")
	}
	return nil
}

// openAuditLog opens the log with the local signing key, for commands
// that may sign a checkpoint.
func openAuditLog(ctx context.Context, cfg *config.Config) (*audit.Log, store.Store, error) {
	k, err := audit.LoadKey(cfg.AuditKeyPath())
	if err != nil {
		return nil, nil, problem(fmt.Errorf("audit signing key: %w", err))
	}
	st, err := openAuditStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	l, err := audit.New(st, k, cfg.Audit.Origin)
	if err != nil {
		st.Close()
		return nil, nil, problem(err)
	}
	return l, st, nil
}

func auditProofCmd(e *env) *cobra.Command {
	var index int64 = -1
	c := configCmd(e, "proof", "Print the inclusion proof of entry N against the latest checkpoint (JSON)",
		func(ctx context.Context, cfg *config.Config) error {
			if index < 0 {
				return fmt.Errorf("--index N (0 or more) is required")
			}
			l, st, err := openAuditLog(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			p, err := l.Prove(ctx, uint64(index))
			if err != nil {
				return problem(err)
			}
			if err := p.Verify(); err != nil {
				return problem(fmt.Errorf("the proof of entry %d does not verify: %w", index, err))
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		})
	c.Flags().Int64Var(&index, "index", -1, "the entry (0 is the first)")
	return c
}

func auditCheckpointCmd(e *env) *cobra.Command {
	return configCmd(e, "checkpoint", "Sign a checkpoint of the audit log now and print it (a signed note)",
		func(ctx context.Context, cfg *config.Config) error {
			l, st, err := openAuditLog(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := l.Checkpoint(ctx)
			if err != nil {
				return problem(err)
			}
			_, err = io.WriteString(e.stdout, c.Note)
			return err
		})
}

func auditLineageCmd(e *env) *cobra.Command {
	var txn string
	c := configCmd(e, "lineage", "Print every hop of one transaction in call order",
		func(ctx context.Context, cfg *config.Config) error {
			if txn == "" {
				return fmt.Errorf("--txn TXN_ID is required")
			}
			st, err := openAuditStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			hops, err := audit.Lineage(ctx, st, txn)
			if err != nil {
				return problem(err)
			}
			if len(hops) == 0 {
				return problem(fmt.Errorf("no audit record of transaction %q", txn))
			}
			for _, h := range hops {
				r := h.Record
				who := ""
				if r.Identity != nil {
					who = strings.TrimSpace(r.Identity.Sub + " " + r.Identity.ClientID)
				}
				fmt.Fprintf(e.stdout, "%s%-8s %s %s %s %s %s by %q signed %s (entry %d)\n", strings.Repeat("  ", h.Depth), r.Decision,
					r.Time, r.Placement, r.TxnID, r.Method, r.Endpoint, who, r.Signer, h.Index)
			}
			return nil
		})
	c.Flags().StringVar(&txn, "txn", "", "the transaction id")
	return c
}

func auditWitnessCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "witness",
		Short: "Be an independent witness of the audit log: make a key, co-sign checkpoints",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var keyFile, name string
	keygen := &cobra.Command{
		Use:   "keygen --key FILE [--name NAME]",
		Short: "Make a witness key (mode 0600) and print its verifier key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyFile == "" {
				return fmt.Errorf("--key FILE is required")
			}
			if _, err := audit.LoadKey(keyFile); err == nil {
				return problem(fmt.Errorf("%s exists already", keyFile))
			}
			k, err := audit.LoadOrCreateKey(keyFile, name)
			if err != nil {
				return problem(err)
			}
			_, err = fmt.Fprintln(e.stdout, k.Verifier)
			return err
		},
	}
	keygen.Flags().StringVar(&keyFile, "key", "", "the key file to create")
	keygen.Flags().StringVar(&name, "name", "vigil.witness/default", "the witness's name (no spaces or +)")

	var wkey, state, in string
	var noStore bool
	cosign := configCmd(e, "cosign", "Check a checkpoint against the last one this witness co-signed, co-sign it and store the co-signature",
		func(ctx context.Context, cfg *config.Config) error {
			if wkey == "" {
				return fmt.Errorf("--key FILE (the witness key) is required")
			}
			w, err := audit.LoadKey(wkey)
			if err != nil {
				return problem(fmt.Errorf("witness key: %w", err))
			}
			if state == "" {
				state = wkey + ".state.json"
			}
			keys, err := trustedKeys(cfg)
			if err != nil {
				return problem(err)
			}
			st, err := openAuditStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			msg, err := checkpointToCosign(ctx, e, st, cfg, in)
			if err != nil {
				return err
			}
			out, c, err := audit.CosignWithState(ctx, w, state, msg, keys, cfg.Audit.Origin,
				func(ctx context.Context, from, to uint64) ([][]byte, error) {
					return audit.ConsistencyHashes(ctx, st, from, to)
				})
			if err != nil {
				return problem(err)
			}
			if !noStore {
				if _, err := audit.StoreCosigned(ctx, st, out, keys, w.Public()); err != nil {
					return problem(err)
				}
			}
			fmt.Fprintf(e.stderr, "co-signed checkpoint of size %d as %s\n", c.Size, w.Name())
			_, err = io.WriteString(e.stdout, out)
			return err
		})
	cosign.Long = `Reads a checkpoint note (--in FILE, - for stdin; default the latest in the
store of the config), checks that the log's key signed it and that it is
consistent with the last checkpoint this witness co-signed (kept in --state,
default KEY.state.json: a consistency proof from the store, verified with the
merkle library), adds the witness's signature line, stores the co-signed note
with the log's checkpoints (unless --no-store) and prints it. Refuses (exit 1)
a checkpoint that is smaller, forked or otherwise not an extension of the last.`
	cosign.Flags().StringVar(&wkey, "key", "", "the witness key file (vigil audit witness keygen)")
	cosign.Flags().StringVar(&state, "state", "", "the witness's state file (default KEY.state.json)")
	cosign.Flags().StringVar(&in, "in", "", "the checkpoint note to co-sign (a file, - for stdin; default the latest stored)")
	cosign.Flags().BoolVar(&noStore, "no-store", false, "only print the co-signed note")
	c.AddCommand(keygen, cosign)
	return c
}

// checkpointToCosign is the note of --in, or the latest stored checkpoint.
func checkpointToCosign(ctx context.Context, e *env, st store.Store, cfg *config.Config, in string) (string, error) {
	switch in {
	case "":
		sc, err := st.LatestAuditCheckpoint(ctx)
		if err != nil {
			return "", problem(fmt.Errorf("latest checkpoint: %w", err))
		}
		return sc.Note, nil
	case "-":
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<16))
		return string(b), err
	}
	b, err := os.ReadFile(in)
	if err != nil {
		return "", problem(err)
	}
	return string(b), nil
}
