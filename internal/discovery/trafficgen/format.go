package trafficgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Formats the writers produce.
const (
	FormatCombined = "combined" // nginx/Apache combined
	FormatVHost    = "vhost"    // combined behind the virtual host (Apache vhost_combined)
	FormatEnvoy    = "envoy"    // Envoy's default JSON access log, one object per line
	FormatHAR      = "har"      // HAR 1.2
)

// Formats lists the formats of NewWriter.
func Formats() []string { return []string{FormatCombined, FormatVHost, FormatEnvoy, FormatHAR} }

// Writer writes requests in one log format. Close finishes the document
// (HAR) and flushes; it does not close the underlying writer.
type Writer interface {
	Write(r *Request) error
	Close() error
}

// NewWriter returns a writer of the format.
func NewWriter(w io.Writer, format string) (Writer, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	switch format {
	case FormatCombined, FormatVHost:
		return &clfWriter{w: bw, vhost: format == FormatVHost}, nil
	case FormatEnvoy:
		e := &envoyWriter{w: bw}
		e.enc = json.NewEncoder(bw)
		e.enc.SetEscapeHTML(false)
		return e, nil
	case FormatHAR:
		h := &harWriter{w: bw}
		h.enc = json.NewEncoder(bw)
		h.enc.SetEscapeHTML(false)
		return h, nil
	}
	return nil, fmt.Errorf("trafficgen: unknown format %q (want %s)", format, strings.Join(Formats(), ", "))
}

func requestURI(r *Request) string {
	if r.Query == "" {
		return r.Path
	}
	return r.Path + "?" + r.Query
}

type clfWriter struct {
	w     *bufio.Writer
	vhost bool
	buf   []byte
}

func dashInt(b []byte, n int) []byte {
	if n <= 0 {
		return append(b, '-')
	}
	return strconv.AppendInt(b, int64(n), 10)
}

func dashStr(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *clfWriter) Write(r *Request) error {
	b := c.buf[:0]
	if c.vhost {
		b = append(b, r.Host...)
		b = append(b, ":443 "...)
	}
	b = append(b, r.ClientIP...)
	b = append(b, " - - ["...)
	b = r.Time.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, requestURI(r)...)
	b = append(b, ' ')
	proto := r.Proto
	if proto == "HTTP/2" {
		proto = "HTTP/2.0"
	}
	b = append(b, proto...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ' ')
	b = dashInt(b, r.RespBytes)
	b = append(b, " \""...)
	b = append(b, dashStr(r.Referer)...)
	b = append(b, "\" \""...)
	b = append(b, dashStr(r.UserAgent)...)
	b = append(b, "\"\n"...)
	c.buf = b
	_, err := c.w.Write(b)
	return err
}

func (c *clfWriter) Close() error { return c.w.Flush() }

// envoyLine has the fields of Envoy's default JSON access log format.
type envoyLine struct {
	StartTime          string `json:"start_time"`
	Method             string `json:"method"`
	Path               string `json:"path"`
	Protocol           string `json:"protocol"`
	ResponseCode       int    `json:"response_code"`
	ResponseFlags      string `json:"response_flags"`
	BytesReceived      int    `json:"bytes_received"`
	BytesSent          int    `json:"bytes_sent"`
	Duration           int64  `json:"duration"`
	UpstreamSvcTime    string `json:"upstream_service_time"`
	XForwardedFor      string `json:"x_forwarded_for"`
	UserAgent          string `json:"user_agent"`
	RequestID          string `json:"request_id"`
	Authority          string `json:"authority"`
	UpstreamHost       string `json:"upstream_host"`
	UpstreamCluster    string `json:"upstream_cluster"`
	DownstreamRemote   string `json:"downstream_remote_address"`
	UpstreamTransport  string `json:"upstream_transport_failure_reason"`
	ConnectionTermDesc string `json:"connection_termination_details"`
}

type envoyWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

func (e *envoyWriter) Write(r *Request) error {
	ms := r.Latency.Milliseconds()
	l := envoyLine{
		StartTime: r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), Method: r.Method, Path: requestURI(r),
		Protocol: r.Proto, ResponseCode: r.Status, ResponseFlags: "-", BytesReceived: r.ReqBytes, BytesSent: r.RespBytes,
		Duration: ms, UpstreamSvcTime: strconv.FormatInt(max(ms-1, 0), 10), XForwardedFor: r.ClientIP,
		UserAgent: dashStr(r.UserAgent), RequestID: r.RequestID, Authority: r.Host,
		UpstreamHost: "10.0.3.17:8080", UpstreamCluster: "api", DownstreamRemote: "10.0.0.12:51234",
		UpstreamTransport: "-", ConnectionTermDesc: "-",
	}
	if r.Class == ClassProbe || r.Class == ClassPreflight {
		l.ResponseFlags = "-"
		l.UpstreamSvcTime = "-"
	}
	return e.enc.Encode(&l)
}

func (e *envoyWriter) Close() error { return e.w.Flush() }

type harHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harEntry struct {
	Started  string         `json:"startedDateTime"`
	Time     float64        `json:"time"`
	Request  harRequest     `json:"request"`
	Response harResponse    `json:"response"`
	Cache    struct{}       `json:"cache"`
	Timings  map[string]any `json:"timings"`
	ServerIP string         `json:"serverIPAddress,omitempty"`
}

type harRequest struct {
	Method      string       `json:"method"`
	URL         string       `json:"url"`
	HTTPVersion string       `json:"httpVersion"`
	Cookies     []harHeader  `json:"cookies"`
	Headers     []harHeader  `json:"headers"`
	QueryString []harHeader  `json:"queryString"`
	PostData    *harPostData `json:"postData,omitempty"`
	HeadersSize int          `json:"headersSize"`
	BodySize    int          `json:"bodySize"`
}

type harPostData struct {
	MimeType string `json:"mimeType"`
	Text     string `json:"text"`
}

type harResponse struct {
	Status      int         `json:"status"`
	StatusText  string      `json:"statusText"`
	HTTPVersion string      `json:"httpVersion"`
	Cookies     []harHeader `json:"cookies"`
	Headers     []harHeader `json:"headers"`
	Content     harContent  `json:"content"`
	RedirectURL string      `json:"redirectURL"`
	HeadersSize int         `json:"headersSize"`
	BodySize    int         `json:"bodySize"`
}

type harContent struct {
	Size     int    `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
}

type harWriter struct {
	w       *bufio.Writer
	enc     *json.Encoder
	started bool
}

func (h *harWriter) Write(r *Request) error {
	if !h.started {
		h.started = true
		if _, err := h.w.WriteString(`{"log":{"version":"1.2","creator":{"name":"vigil-trafficgen","version":"1.0"},"pages":[],"entries":[` + "\n"); err != nil {
			return err
		}
	} else if _, err := h.w.WriteString(","); err != nil {
		return err
	}
	proto := r.Proto
	if proto == "HTTP/2" {
		proto = "h2"
	}
	req := harRequest{Method: r.Method, URL: "https://" + r.Host + requestURI(r), HTTPVersion: proto,
		Cookies: []harHeader{}, QueryString: []harHeader{}, HeadersSize: -1, BodySize: r.ReqBytes}
	if proto != "h2" {
		req.Headers = append(req.Headers, harHeader{"Host", r.Host})
	}
	req.Headers = append(req.Headers, harHeader{"User-Agent", r.UserAgent}, harHeader{"Accept", "application/json, */*"})
	if r.Auth != "" {
		req.Headers = append(req.Headers, harHeader{"Authorization", r.Auth})
	}
	if r.Referer != "" {
		req.Headers = append(req.Headers, harHeader{"Referer", r.Referer})
	}
	if r.Class == ClassPreflight {
		req.Headers = append(req.Headers, harHeader{"Origin", strings.TrimSuffix(r.Referer, "/")},
			harHeader{"Access-Control-Request-Method", "POST"}, harHeader{"Access-Control-Request-Headers", "authorization,content-type"})
	}
	req.Headers = append(req.Headers, harHeader{"X-Request-Id", r.RequestID})
	if r.ReqType != "" {
		req.Headers = append(req.Headers, harHeader{"Content-Type", r.ReqType})
		req.PostData = &harPostData{MimeType: r.ReqType, Text: r.ReqBody}
	}
	if r.Query != "" {
		for _, kv := range strings.Split(r.Query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			dk, err1 := url.QueryUnescape(k)
			dv, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil {
				dk, dv = k, v
			}
			req.QueryString = append(req.QueryString, harHeader{dk, dv})
		}
	}
	resp := harResponse{Status: r.Status, StatusText: statusText(r.Status), HTTPVersion: proto, Cookies: []harHeader{},
		Headers: []harHeader{}, HeadersSize: -1, BodySize: r.RespBytes}
	resp.Content = harContent{Size: r.RespBytes, MimeType: r.RespType, Text: r.RespBody}
	if r.RespType != "" {
		resp.Headers = append(resp.Headers, harHeader{"Content-Type", r.RespType})
	}
	if r.Class == ClassPreflight {
		resp.Headers = append(resp.Headers, harHeader{"Access-Control-Allow-Origin", strings.TrimSuffix(r.Referer, "/")},
			harHeader{"Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE"})
	}
	ms := float64(r.Latency) / float64(time.Millisecond)
	e := harEntry{Started: r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), Time: ms, Request: req, Response: resp,
		Timings: map[string]any{"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0.1, "wait": ms * 0.9, "receive": max(ms*0.1-0.1, 0)}}
	return h.enc.Encode(&e)
}

func (h *harWriter) Close() error {
	if !h.started {
		if _, err := h.w.WriteString(`{"log":{"version":"1.2","creator":{"name":"vigil-trafficgen","version":"1.0"},"pages":[],"entries":[`); err != nil {
			return err
		}
	}
	if _, err := h.w.WriteString("]}}\n"); err != nil {
		return err
	}
	return h.w.Flush()
}
