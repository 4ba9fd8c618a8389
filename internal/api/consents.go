package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/authz/consent"
	"github.com/vigil-sec/vigil/internal/store"
)

// ConsentService keeps consent grants and distributes them to the data
// planes (the control plane).
type ConsentService interface {
	// GrantConsent stores and distributes a new grant, setting its ID and
	// creation time. A grant the caller got wrong is an error with an
	// InvalidConfig() bool method returning true (422).
	GrantConsent(ctx context.Context, g consent.Grant) (consent.Grant, error)
	// RevokeConsent revokes a grant everywhere; store.ErrNotFound for an
	// unknown id.
	RevokeConsent(ctx context.Context, id string) (consent.Grant, error)
	GetConsent(ctx context.Context, id string) (consent.Grant, error)
	ListConsents(ctx context.Context, f store.ConsentFilter) (store.Page[consent.Grant], error)
}

// grantRequest is the body of POST /api/v1/consents.
type grantRequest struct {
	Subject  string `json:"subject"`
	Grantee  string `json:"grantee"`
	Scope    string `json:"scope"`
	Resource string `json:"resource"`
	// ExpiresAt (RFC 3339) or ExpiresIn (a Go duration, "720h"): at most
	// one; neither is a grant until revoked.
	ExpiresAt string `json:"expires_at"`
	ExpiresIn string `json:"expires_in"`
}

const maxGrantBody = 16 << 10

func (s *Server) consents() (ConsentService, error) {
	if s.Consents == nil {
		return nil, errorf(http.StatusNotImplemented, "no_consents", "this node does not keep consent grants")
	}
	return s.Consents, nil
}

func (s *Server) grantConsent(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.consents()
	if err != nil {
		return err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return errorf(http.StatusUnsupportedMediaType, "bad_content_type", "send the grant as application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxGrantBody))
	dec.DisallowUnknownFields()
	var req grantRequest
	if err := dec.Decode(&req); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, "bad_body", "the body must hold one JSON object")
	}
	g := consent.Grant{Subject: req.Subject, Grantee: req.Grantee, Scope: req.Scope, Resource: req.Resource}
	switch {
	case req.ExpiresAt != "" && req.ExpiresIn != "":
		return errorf(http.StatusUnprocessableEntity, "invalid_consent", "expires_at, expires_in: give at most one")
	case req.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339Nano, req.ExpiresAt)
		if err != nil {
			return errorf(http.StatusUnprocessableEntity, "invalid_consent", "expires_at: not an RFC 3339 time")
		}
		g.ExpiresAt = &t
	case req.ExpiresIn != "":
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return errorf(http.StatusUnprocessableEntity, "invalid_consent", "expires_in: a positive duration such as 720h")
		}
		t := time.Now().Add(d)
		g.ExpiresAt = &t
	}
	g, err = cs.GrantConsent(r.Context(), g)
	var inv interface{ InvalidConfig() bool }
	if errors.As(err, &inv) && inv.InvalidConfig() {
		return errorf(http.StatusUnprocessableEntity, "invalid_consent", "%v", err)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/consents/"+g.ID)
	return writeJSON(w, http.StatusCreated, g)
}

// bodyError turns a JSON decoding error into a 400 that says what and
// where.
func bodyError(err error) error {
	var (
		mbe *http.MaxBytesError
		ute *json.UnmarshalTypeError
		se  *json.SyntaxError
	)
	switch {
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "the body is limited to %d bytes", mbe.Limit)
	case errors.As(err, &ute):
		return errorf(http.StatusBadRequest, "bad_body", "%s: must be a %s", ute.Field, ute.Type)
	case errors.As(err, &se):
		return errorf(http.StatusBadRequest, "bad_body", "invalid JSON at byte %d", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "bad_body", "the body must hold one JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "bad_body", "%s: unknown field", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
	}
	return errorf(http.StatusBadRequest, "bad_body", "the body must hold one JSON object")
}

func (s *Server) listConsents(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.consents()
	if err != nil {
		return err
	}
	limit, cursor, err := paging(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.ConsentFilter{Subject: q.Get("subject"), Grantee: q.Get("grantee"), Scope: q.Get("scope"), Limit: limit, Cursor: cursor}
	if v := q.Get("active"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return errorf(http.StatusBadRequest, "bad_active", "active must be true or false")
		}
		if on {
			f.ActiveAt = time.Now()
		}
	}
	page, err := cs.ListConsents(r.Context(), f)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []consent.Grant{}
	}
	return writeJSON(w, http.StatusOK, list[consent.Grant]{Items: page.Items, NextCursor: page.NextCursor})
}

func (s *Server) getConsent(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.consents()
	if err != nil {
		return err
	}
	g, err := cs.GetConsent(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

func (s *Server) revokeConsent(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.consents()
	if err != nil {
		return err
	}
	g, err := cs.RevokeConsent(r.Context(), r.PathValue("id"))
	if err != nil && g.ID != "" {
		// Revoked in the store; the data planes have not heard yet.
		return errorf(http.StatusServiceUnavailable, "distribution_pending", "%v", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}
