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

// ParseBatch validates a batch body.
func ParseBatch(raw []byte, withSandbox bool) (batchRequest, error) {
	return parseBatch(raw, withSandbox)
}

// BatchCalls is how many calls a parsed batch holds.
func BatchCalls(r batchRequest) int { return len(r.calls) }
