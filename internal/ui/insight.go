package ui

// insightRoutes are the overview, findings, events, risk and audit pages
// (UI-insight owns this file).
func (s *Server) insightRoutes() []route { return nil }
