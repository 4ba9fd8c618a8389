package logs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// flexNum decodes a JSON number or a string holding one ("-" and "" are 0).
type flexNum float64

func (n *flexNum) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "-" || string(b) == "null" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*n = flexNum(f)
	return nil
}

// envoyLine holds the fields of Envoy's default JSON access log format and
// Istio's additions.
type envoyLine struct {
	StartTime      string  `json:"start_time"`
	Method         string  `json:"method"`
	Path           string  `json:"path"`
	OriginalPath   string  `json:"x-envoy-original-path"`
	Protocol       string  `json:"protocol"`
	ResponseCode   flexNum `json:"response_code"`
	BytesReceived  flexNum `json:"bytes_received"`
	BytesSent      flexNum `json:"bytes_sent"`
	Duration       flexNum `json:"duration"` // milliseconds
	Authority      string  `json:"authority"`
	UserAgent      string  `json:"user_agent"`
	Downstream     string  `json:"downstream_remote_address"`
	XForwardedFor  string  `json:"x_forwarded_for"`
	RequestID      string  `json:"request_id"`
	Referer        string  `json:"referer"`
	ReqContentType string  `json:"content_type"`
}

func parseEnvoy(b []byte, rec *Record, _ *parseState) bool {
	var l envoyLine
	if err := json.Unmarshal(b, &l); err != nil {
		return false
	}
	p := l.Path
	if l.OriginalPath != "" && l.OriginalPath != "-" {
		p = l.OriginalPath
	}
	if l.Method == "" || l.Method == "-" || p == "" || p == "-" {
		return false
	}
	if l.StartTime != "" {
		t, err := time.Parse(time.RFC3339Nano, l.StartTime)
		if err != nil {
			return false
		}
		rec.Time = t
	}
	rec.Method = internMethod(l.Method)
	splitURI(p, rec)
	rec.Proto = dash(l.Protocol)
	rec.Status = int(l.ResponseCode)
	rec.ReqBytes = int64(l.BytesReceived)
	rec.RespBytes = int64(l.BytesSent)
	rec.Latency = time.Duration(float64(l.Duration) * float64(time.Millisecond))
	if a := dash(l.Authority); a != "" {
		rec.Host = a
	}
	rec.UserAgent = dash(l.UserAgent)
	rec.Referer = dash(l.Referer)
	rec.RequestID = dash(l.RequestID)
	rec.ReqContentType = dash(l.ReqContentType)
	if xff := dash(l.XForwardedFor); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		rec.RemoteIP = strings.TrimSpace(first)
	} else {
		rec.RemoteIP = hostOnly(dash(l.Downstream))
	}
	return true
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// hostOnly strips the port of "ip:port" / "[v6]:port".
func hostOnly(s string) string {
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

func parseEvent(b []byte, rec *Record, _ *parseState) bool {
	var e event.Event
	if err := json.Unmarshal(b, &e); err != nil {
		return false
	}
	if e.Type != "" || e.Request.Method == "" || e.Request.Path == "" {
		return false // alerts and stage failures are not requests
	}
	rec.Time = e.Time
	rec.Host = e.Destination.Host
	rec.Method = internMethod(e.Request.Method)
	splitURI(e.Request.Path, rec)
	if e.Request.Query != "" {
		rec.Query = e.Request.Query
	}
	rec.Status = e.Response.Status
	rec.ReqBytes = e.Request.Bytes
	rec.RespBytes = e.Response.Bytes
	rec.RemoteIP = e.Source.IP
	rec.UserAgent = e.Request.UserAgent
	rec.ReqContentType = e.Request.ContentType
	rec.RespContentType = e.Response.ContentType
	rec.Endpoint = e.Request.Endpoint
	rec.RequestID = e.TxnID
	rec.Latency = time.Duration(e.Latency.Total * float64(time.Millisecond))
	return true
}

// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), the parts we use.
type harDoc struct {
	Log *struct {
		Entries []harEntry `json:"entries"`
	} `json:"log"`
}

type harEntry struct {
	Started  string  `json:"startedDateTime"`
	Time     flexNum `json:"time"`
	ServerIP string  `json:"serverIPAddress"`
	Request  struct {
		Method      string      `json:"method"`
		URL         string      `json:"url"`
		HTTPVersion string      `json:"httpVersion"`
		Headers     []harHeader `json:"headers"`
		BodySize    flexNum     `json:"bodySize"`
		PostData    *struct {
			MimeType string `json:"mimeType"`
			Text     string `json:"text"`
		} `json:"postData"`
	} `json:"request"`
	Response struct {
		Status   flexNum     `json:"status"`
		Headers  []harHeader `json:"headers"`
		BodySize flexNum     `json:"bodySize"`
		Content  struct {
			Size     flexNum `json:"size"`
			MimeType string  `json:"mimeType"`
			Text     string  `json:"text"`
			Encoding string  `json:"encoding"`
		} `json:"content"`
	} `json:"response"`
}

type harHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func header(hs []harHeader, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// parseHAR reads a whole HAR document and returns the usable records and
// the number of entries dropped; a document that is not HAR is an error.
func parseHAR(r io.Reader) ([]Record, int, error) {
	var doc harDoc
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, 0, fmt.Errorf("har: %w", err)
	}
	if doc.Log == nil {
		return nil, 0, fmt.Errorf("har: no log object")
	}
	out := make([]Record, 0, len(doc.Log.Entries))
	dropped := 0
	for i := range doc.Log.Entries {
		rec, ok := harRecord(&doc.Log.Entries[i])
		if !ok {
			dropped++
			continue
		}
		out = append(out, rec)
	}
	return out, dropped, nil
}

func harRecord(e *harEntry) (Record, bool) {
	var rec Record
	u, err := url.Parse(e.Request.URL)
	if err != nil || e.Request.Method == "" || !validMethod(e.Request.Method) {
		return rec, false
	}
	if e.Started != "" {
		if t, err := time.Parse(time.RFC3339Nano, e.Started); err == nil {
			rec.Time = t
		}
	}
	rec.Method = internMethod(e.Request.Method)
	rec.Host = u.Host
	rec.Path = u.EscapedPath()
	if rec.Path == "" {
		rec.Path = "/"
	}
	rec.Query = u.RawQuery
	rec.Proto = e.Request.HTTPVersion
	rec.Status = int(e.Response.Status)
	if e.Request.BodySize > 0 {
		rec.ReqBytes = int64(e.Request.BodySize)
	}
	switch {
	case e.Response.BodySize > 0:
		rec.RespBytes = int64(e.Response.BodySize)
	case e.Response.Content.Size > 0:
		rec.RespBytes = int64(e.Response.Content.Size)
	}
	rec.Latency = time.Duration(float64(e.Time) * float64(time.Millisecond))
	rec.UserAgent = header(e.Request.Headers, "User-Agent")
	rec.Referer = header(e.Request.Headers, "Referer")
	rec.Authorization = header(e.Request.Headers, "Authorization")
	rec.RequestID = header(e.Request.Headers, "X-Request-Id")
	rec.ReqContentType = header(e.Request.Headers, "Content-Type")
	if pd := e.Request.PostData; pd != nil {
		if rec.ReqContentType == "" {
			rec.ReqContentType = pd.MimeType
		}
		if pd.Text != "" {
			rec.ReqBody = []byte(pd.Text)
			if rec.ReqBytes == 0 {
				rec.ReqBytes = int64(len(rec.ReqBody))
			}
		}
	}
	rec.RespContentType = header(e.Response.Headers, "Content-Type")
	if rec.RespContentType == "" {
		rec.RespContentType = e.Response.Content.MimeType
	}
	if c := e.Response.Content; c.Text != "" {
		if strings.EqualFold(c.Encoding, "base64") {
			if b, err := base64.StdEncoding.DecodeString(c.Text); err == nil {
				rec.RespBody = b
			}
		} else {
			rec.RespBody = []byte(c.Text)
		}
	}
	return rec, true
}
