package main

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// consumerProc is cmd/consumer running as a subprocess, its log read as
// it goes (see logWatch).
type consumerProc struct {
	cmd     *exec.Cmd
	logs    *logWatch
	exited  chan error // receives the exit once
	stopped bool       // the exit was received
}

// startConsumerProc starts bin with args, without the variables that
// configure cmd/consumer (cleanEnv).
func startConsumerProc(bin string, args []string) (*consumerProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &consumerProc{cmd: cmd, logs: &logWatch{url: make(chan string, 1)}, exited: make(chan error, 1)}
	go func() { p.logs.scan(stderr); p.exited <- cmd.Wait() }()
	return p, nil
}

// pid is the process's ID.
func (p *consumerProc) pid() int { return p.cmd.Process.Pid }

// died wraps the exit received from p.exited, during what.
func (p *consumerProc) died(err error, what string) error {
	p.stopped = true
	return p.fail(fmt.Errorf("consumer exited %s: %v", what, err))
}

// fail adds the tail of the consumer's log to err.
func (p *consumerProc) fail(err error) error {
	return fmt.Errorf("%w; consumer log tail:\n%s", err, strings.Join(p.logs.tail(), "\n"))
}

// stop sends SIGTERM and waits, at most 45 s, for a clean exit.
func (p *consumerProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.stopped = true
		if err != nil {
			return p.fail(fmt.Errorf("consumer exited with %v after SIGTERM", err))
		}
		return nil
	case <-time.After(45 * time.Second):
		return p.fail(errors.New("consumer still running 45 s after SIGTERM"))
	}
}

// kill ends the process unless it exited.
func (p *consumerProc) kill() {
	if !p.stopped {
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.stopped = true
	}
}
