// Command api is the topology demo's backend: every GET /items/{id} sends one
// command to Redis and runs one query on PostgreSQL, then answers. Query
// parameters ask for failures, so a load generator knows exactly how many of
// each there are: fail=1 answers 500, redis_error=1 sends a Redis command the
// server rejects, pg_error=1 runs a query that fails (division by zero).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	addr := flag.String("addr", ":8081", "listen address")
	redisAddr := flag.String("redis", "redis:6379", "Redis address")
	pgURL := flag.String("postgres", "postgres://postgres@postgres:5432/postgres", "PostgreSQL URL")
	flag.Parse()

	cfg, err := pgxpool.ParseConfig(*pgURL)
	if err != nil {
		slog.Error("postgres", "err", err)
		os.Exit(1)
	}
	// No liveness ping on acquire (pgxpool pings connections idle for a
	// second): every query on the wire is then one the load generator asked
	// for, which the e2e suite counts.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	// One round trip per query (Parse, Bind, Describe, Execute, Sync on the
	// unnamed statement): pgx's default statement cache would add a prepare
	// per connection, and a deallocate and a prepare after every failed
	// query, on top of what the generator counts.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		slog.Error("postgres", "err", err)
		os.Exit(1)
	}
	redis := &redisPool{addr: *redisAddr, idle: make(chan *redisConn, 64)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		q := r.URL.Query()
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		// GET with two keys is a wrong number of arguments: Redis answers -ERR.
		args := []string{"GET", "item:" + strconv.Itoa(id)}
		if q.Get("redis_error") == "1" {
			args = append(args, "extra")
		}
		views, redisErr := redis.do(args...)
		var doubled int
		divisor := 1
		if q.Get("pg_error") == "1" {
			divisor = 0
		}
		pgErr := pool.QueryRow(ctx, "SELECT $1::int * 2 / $2::int", id, divisor).Scan(&doubled)
		if q.Get("fail") == "1" {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "views": views, "doubled": doubled,
			"redis_error": errString(redisErr), "pg_error": errString(pgErr),
		})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	// Logged once listening: the e2e suite waits for this line.
	slog.Info("api listening", "addr", *addr, "redis", *redisAddr)
	if err := http.Serve(lis, mux); err != nil {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// redisPool is a minimal RESP client: enough for one command per request on
// reused connections.
type redisPool struct {
	addr string
	idle chan *redisConn
}

type redisConn struct {
	c net.Conn
	r *bufio.Reader
}

var errRedis = errors.New("redis error reply")

func (p *redisPool) do(args ...string) (string, error) {
	var c *redisConn
	select {
	case c = <-p.idle:
	default:
		nc, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
		if err != nil {
			return "", err
		}
		c = &redisConn{c: nc, r: bufio.NewReader(nc)}
	}
	reply, err := c.do(args)
	if err != nil && !errors.Is(err, errRedis) {
		c.c.Close()
		return "", err
	}
	select {
	case p.idle <- c:
	default:
		c.c.Close()
	}
	return reply, err
}

func (c *redisConn) do(args []string) (string, error) {
	_ = c.c.SetDeadline(time.Now().Add(2 * time.Second))
	cmd := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		cmd += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil || len(line) < 3 {
		return "", fmt.Errorf("redis reply: %w", err)
	}
	switch line[0] {
	case '-':
		return line[1 : len(line)-2], errRedis
	case '$':
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil || n < 0 {
			return "", err // nil bulk: no such key
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return line[1 : len(line)-2], nil
}
