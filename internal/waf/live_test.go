package waf

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
)

func writeFile(path, data string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func TestFilesHotReload(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "patches.conf")
	if err := writeFile(f, `SecRule ARGS:coupon "@rx ^DROP" "id:100001,phase:2,deny,status:403,msg:'virtual patch'"`); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	l, err := Start(&config.WAF{Enabled: true, Files: []string{f}}, Limits{}, LiveOptions{Debounce: 20 * time.Millisecond,
		OnReload: func(error) { attempts.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	blocks := func(q string) int {
		id, _ := run(l.Engine(), req("GET", "/c?"+q, "", ""))
		return id
	}
	if blocks("coupon=DROPALL") != 100001 || blocks("voucher=FREE") != 0 {
		t.Fatal("initial rules not applied")
	}
	wait := func(n int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for attempts.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("no reload after the file changed (%d attempts)", attempts.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A new rule applies without a restart.
	if err := writeFile(f, `SecRule ARGS:voucher "@rx ^FREE" "id:100002,phase:2,deny,status:403,msg:'voucher patch'"`); err != nil {
		t.Fatal(err)
	}
	wait(1)
	if l.LastError() != nil || blocks("voucher=FREE") != 100002 || blocks("coupon=DROPALL") != 0 {
		t.Fatalf("after reload: err %v, voucher %d, coupon %d", l.LastError(), blocks("voucher=FREE"), blocks("coupon=DROPALL"))
	}
	// A broken file keeps the running rules, and the error is kept.
	if err := writeFile(f, `SecRule ARGS:voucher "@rx (" "id:100003,deny"`); err != nil {
		t.Fatal(err)
	}
	wait(2)
	if l.LastError() == nil {
		t.Fatal("broken file: no error recorded")
	}
	if p, _ := FieldPath(l.LastError()); p != "protect.waf.files[0]" {
		t.Errorf("error field %q", p)
	}
	if blocks("voucher=FREE") != 100002 {
		t.Error("broken file replaced the running rules")
	}
	if l.Reloads() != 1 {
		t.Errorf("%d reloads, want 1", l.Reloads())
	}
}
