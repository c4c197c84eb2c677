package server

// route is one entry of the route table.
type route struct {
	pattern string
	h       apiFunc
	// archive routes take raw bodies up to the archive limit.
	archive bool
}

// routes is every route of the API, in one table.
func (s *Server) routes() []route {
	rs := []route{
		{pattern: "GET /health", h: s.health},
		{pattern: "GET /healthz", h: s.healthz},
		{pattern: "GET /stats", h: s.stats},
		{pattern: "POST /sandbox/create", h: s.createSandbox},
		{pattern: "GET /sandboxes", h: s.listSandboxes},
		{pattern: "GET /sandbox/{sandbox_id}", h: s.getSandbox},
		{pattern: "DELETE /sandbox/{sandbox_id}", h: s.deleteSandbox},
		{pattern: "POST /sandbox/{sandbox_id}/stop", h: s.stopSandbox},
		{pattern: "POST /sandbox/tool/execute", h: s.executeTool},
		{pattern: "GET /sandbox/{sandbox_id}/tools", h: s.sandboxTools},
		{pattern: "POST /sandbox/{sandbox_id}/archive", h: s.putArchive, archive: true},
		{pattern: "GET /sandbox/{sandbox_id}/archive", h: s.getArchive},
		{pattern: "POST /pool/initialize", h: s.poolInitialize},
		{pattern: "POST /pool/execute", h: s.poolExecute},
		// enclave's own (docs/api.md §12).
		{pattern: "POST /sandbox/{sandbox_id}/processes", h: s.startProcess},
		{pattern: "GET /sandbox/{sandbox_id}/processes", h: s.listProcesses},
		{pattern: "GET /sandbox/{sandbox_id}/processes/{process_id}", h: s.getProcess},
		{pattern: "GET /sandbox/{sandbox_id}/processes/{process_id}/output", h: s.processOutput},
		{pattern: "POST /sandbox/{sandbox_id}/processes/{process_id}/stdin", h: s.processStdin},
		{pattern: "POST /sandbox/{sandbox_id}/processes/{process_id}/signal", h: s.signalProcess},
		{pattern: "POST /sandbox/{sandbox_id}/processes/{process_id}/wait", h: s.waitProcess},
		{pattern: "GET /sandbox/{sandbox_id}/terminal", h: s.terminal},
		{pattern: "POST /sandbox/{sandbox_id}/keepalive", h: s.keepalive},
	}
	if s.opts.Metrics != nil {
		rs = append(rs, route{pattern: "GET /metrics", h: s.metrics})
	}
	return rs
}
