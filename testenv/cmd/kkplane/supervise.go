package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// supervisedEnv marks the child a supervisor started, so that it runs the
// component instead of supervising again.
const supervisedEnv = "KKPLANE_SUPERVISED"

// startupGrace is how long a child must have run for its exit to be taken as
// a crash worth a restart rather than a start-up failure (a bad flag, a port
// in use), which is reported at once with the child's own exit status.
const startupGrace = 5 * time.Second

// supervise runs this binary again as a child with the same arguments and
// restarts it when it exits on its own, as the kubelet restarts a static pod.
// kube-controller-manager and kube-scheduler run with leader election, as in a
// real cluster: when they cannot renew their lease (the API server or etcd is
// away for longer than the renew deadline) they exit, and the fresh process
// lists everything anew once it is leader again instead of waiting out
// client-go's reconnect backoff with stale caches.
//
// A process started while the API server is away would spend up to a minute
// after its return in client-go's reconnect backoff, so the supervisor starts
// the new one once the API server answers /readyz again.
//
// The supervisor keeps the component's name as its first argument, so the
// harness sees it as the component: SIGTERM or SIGINT to it is passed on and
// it exits when the child has; when it is killed, the kernel kills the child
// too (parent-death signal).
func supervise(component string) int {
	// The parent-death signal belongs to the thread that started the child:
	// keep this goroutine on one thread for as long as it runs.
	runtime.LockOSThread()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	for run := 1; ; run++ {
		cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
		cmd.Args[0] = os.Args[0]
		cmd.Env = append(os.Environ(), supervisedEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		began := time.Now()
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "kkplane: could not start %s: %v\n", component, err)
			return 1
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case sig := <-stop:
			_ = cmd.Process.Signal(sig)
			return exitCode(<-done)
		case err := <-done:
			ran := time.Since(began)
			if ran < startupGrace {
				fmt.Fprintf(os.Stderr, "kkplane: %s exited %v after %s, while starting; not restarted\n", component, describe(err), ran.Round(time.Millisecond))
				return exitCode(err)
			}
			fmt.Fprintf(os.Stderr, "kkplane: %s exited %v after %s (run %d); restarting it once the API server is ready, as a kubelet would\n", component, describe(err), ran.Round(time.Second), run)
		}
		if !waitForAPIServer(stop) {
			return 0
		}
	}
}

// waitForAPIServer waits until the API server of the component's --kubeconfig
// answers /readyz (checked every half second), or until the supervisor is told
// to stop (false).
func waitForAPIServer(stop <-chan os.Signal) bool {
	probe := readyProbe()
	for {
		select {
		case <-stop:
			return false
		case <-time.After(500 * time.Millisecond):
		}
		if probe == nil || probe() {
			return true
		}
	}
}

// readyProbe returns a check of the API server's /readyz through the
// component's --kubeconfig, or nil when there is none to read.
func readyProbe() func() bool {
	var kubeconfig string
	for i, a := range os.Args {
		if v, ok := strings.CutPrefix(a, "--kubeconfig="); ok {
			kubeconfig = v
		} else if a == "--kubeconfig" && i+1 < len(os.Args) {
			kubeconfig = os.Args[i+1]
		}
	}
	if kubeconfig == "" {
		return nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil
	}
	url := strings.TrimSuffix(cfg.Host, "/") + "/readyz"
	return func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		res, err := client.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
}

func describe(err error) string {
	if err == nil {
		return "with status 0"
	}
	return fmt.Sprintf("(%v)", err)
}

func exitCode(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	default:
		return 1
	}
}
