package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

// opsServer serves /healthz (the process is alive), /readyz (ready() says
// whether the service works) and /metrics.
type opsServer struct {
	srv *http.Server
	ln  net.Listener
}

func newOpsServer(addr string, reg *prometheus.Registry, ready func() error, log *zap.Logger) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageErr("ROOTWATCH_LISTEN: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: zap.NewStdLog(log)}))
	return &opsServer{
		ln: ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			ErrorLog:          zap.NewStdLog(log),
		},
	}, nil
}

// Addr is the address the server listens on.
func (s *opsServer) Addr() string { return s.ln.Addr().String() }

// serve runs until Shutdown; it returns nil after a shutdown.
func (s *opsServer) serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *opsServer) shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// newHealthcheckCmd is the container health check: distroless images have
// no curl, so the binary checks its own /readyz, which fails when the
// service cannot read its queue (ROOTWATCH_STALL_AFTER), so that ECS
// replaces the task.
func newHealthcheckCmd(e *env) *cobra.Command {
	var listen string
	c := &cobra.Command{
		Use:     "healthcheck",
		Short:   "Exit 0 if the local rootwatch service is ready: /readyz (for container health checks)",
		Example: "  rootwatch healthcheck --listen :9090",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, port, err := net.SplitHostPort(listen)
			if err != nil {
				return usageErr("ROOTWATCH_LISTEN: %v", err)
			}
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
			if err != nil {
				return &exitError{code: exitPartial, err: err}
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				return &exitError{code: exitPartial, err: fmt.Errorf("readyz: %w", err)}
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return &exitError{code: exitPartial, err: fmt.Errorf("readyz: %s: %s", resp.Status, strings.TrimSpace(string(body)))}
			}
			fmt.Fprintln(e.stdout, "ok")
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", ":9090", settingUsage("listen"))
	return c
}
