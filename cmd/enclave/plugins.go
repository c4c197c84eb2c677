package main

// enclave plugins: list and check the plugins.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/enclave-sandbox/enclave/internal/pluginhost"
)

func runPlugins(args []string) error {
	var c config
	fs := flag.NewFlagSet("enclave plugins", flag.ContinueOnError)
	commonFlags(fs, &c)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := setupLogging(&c); err != nil {
		return err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	routes, err := typeRoutes(c.backends.typeBackends)
	if err != nil {
		return err
	}
	host := pluginhost.New(pluginhost.Options{Dir: c.pluginDir, Env: pluginEnv(&c), TypeBackends: routes})
	defer host.Kill()
	if err := host.Load(context.Background()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tVERSION\tSANDBOX TYPES\tFILE\tSTATUS\tDESCRIPTION")
	for _, s := range host.Statuses() {
		status := "ok"
		if s.Problem != "" {
			status = "rejected: " + s.Problem
		}
		types := strings.Join(s.Types, ",")
		if types == "" {
			types = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Kind, orDash(s.Name), orDash(s.Version), types, filepath.Base(s.Path), status, orDash(s.Description))
	}
	tw.Flush()
	if len(host.Statuses()) == 0 {
		fmt.Printf("no plugins in %s\n", c.pluginDir)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
