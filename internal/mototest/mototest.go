// Package mototest starts one moto_server (a local AWS emulator) per test
// binary and gives tests real aws-sdk-go-v2 clients pointed at it.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }
//
// and in each test `srv := mototest.Require(t)`, which skips the test when
// moto_server is not on PATH, or fails it when ROOTWATCH_REQUIRE_EMULATORS=1.
//
// It is a helper for tests only (of ingest, notify and cmd/rootwatch); no
// service code imports it.
package mototest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// RequireEnv is the environment variable that turns a missing emulator
// into a test failure (CI sets it).
const RequireEnv = "ROOTWATCH_REQUIRE_EMULATORS"

// Server is a running moto_server.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:PORT.
	Endpoint string
	cmd      *exec.Cmd
}

var (
	current  *Server
	startErr error
	seq      atomic.Int64
)

// Main starts moto_server (when it is on PATH), runs the tests and stops
// the server. It returns the exit code for os.Exit.
func Main(m *testing.M) int {
	current, startErr = start()
	code := m.Run()
	if current != nil {
		current.stop()
	}
	return code
}

// Require returns the server started by Main. Without one it skips the
// test, or fails it when RequireEnv is "1".
func Require(t testing.TB) *Server {
	t.Helper()
	if current != nil {
		return current
	}
	msg := fmt.Sprintf("moto_server unavailable (%v); install moto[server] or see deploy/docs/testing.md", startErr)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return nil
}

func start() (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New("moto_server not on PATH")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Getenv("MOTO_LOG") == "" {
		cmd.Stdout, cmd.Stderr = nil, nil
	} else {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	probe := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := probe.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("moto_server did not become ready within 30s")
}

func (s *Server) stop() {
	// moto_server may fork workers: signal its process group.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CPUTime returns the CPU time (user+system) the moto_server process has
// used so far, from /proc; 0 if it cannot be read.
func (s *Server) CPUTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// the 14th and 15th fields of the whole line, in clock ticks (100/s).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// Config returns an AWS config for the server: region us-east-1, static
// credentials, endpoint set through BaseEndpoint by the client helpers.
func (s *Server) Config(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

// SQS returns an SQS client for the server.
func (s *Server) SQS(t testing.TB) *sqs.Client {
	return sqs.NewFromConfig(s.Config(t), func(o *sqs.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
}

// S3 returns a path-style S3 client for the server.
func (s *Server) S3(t testing.TB) *s3.Client {
	return s3.NewFromConfig(s.Config(t), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
		// moto sends no checksums; without this the SDK logs every GetObject.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// Name returns a name unique within this test binary run, for queues and
// buckets ("prefix-N-unixnano"), lower case and DNS-safe.
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, seq.Add(1), time.Now().UnixNano()%1e9)
}
