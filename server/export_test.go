package server

// RoutePatterns lists the route table's patterns.
func RoutePatterns(s *Server) []string {
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// Undocumented lists the routes without an op.
func Undocumented(s *Server) []string { return s.undocumented() }
