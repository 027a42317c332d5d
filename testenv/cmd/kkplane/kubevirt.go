package main

// `kkplane kubevirt` stands in for the two KubeVirt components the plane
// needs to exercise what KubeKloud does with virtual machines, without any
// VM ever running:
//
//   - virt-api's subresource server (subresources.kubevirt.io/v1), registered
//     with the real kube-apiserver through an APIService, so authentication,
//     authorization (RBAC on virtualmachineinstances/console, /vnc, /pause,
//     /unpause and virtualmachines/restart) and proxying stay the API server's own. It trusts the
//     aggregator's identity headers only from a client certificate signed by
//     the front-proxy CA (requestheader), as an aggregated API server must.
//     console: a simulated serial line (login prompt, echo); vnc: an RFB 3.8
//     server with security type None and a small framebuffer; pause/unpause:
//     the VMI's Paused condition, written through the API server; restart: a
//     Stop and a Start request in the VM's status.stateChangeRequests.
//   - the part of virt-controller that turns a VirtualMachine into a
//     VirtualMachineInstance: a VM whose runStrategy runs it gets a VMI of the
//     same name (labels and annotations of its template, owned by the VM),
//     reported Running on one of the fake nodes with an address; Halted or
//     Manual deletes it. A deleted VMI of a running VM is created again. A
//     VM's stop and start requests are played in order: the VMI a Stop names
//     is deleted, a Start makes the next from the VM that carries it.
//     The DataVolumes of a VM's dataVolumeTemplates are created first, and
//     the VM gets no VMI until they have all Succeeded. The VM's status
//     shows its run state as virt-controller's does (reportRunState):
//     Running or Stopped, 0.5–1.5 s after the change was first needed.
//
// Beside KubeVirt it plays the storage side a VM's disks need: a dynamic
// volume provisioner (storage.go), CDI's DataVolume import (cdi.go), the CSI
// snapshot controller (snapshots.go) and KubeVirt's VM snapshots and restores
// (vmsnapshots.go), and the kubelet's persistence in deleting a terminating
// pod, which kwok lacks (podreaper.go); controllers.go starts them all.
//
// Everything it writes goes through the API server with the admin kubeconfig.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	vmGVR  = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	vmiGVR = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
)

const (
	subresourceGroup = "subresources.kubevirt.io"
	plainSubprotocol = "plain.kubevirt.io"
)

type kubevirtSim struct {
	client       dynamic.Interface
	kube         kubernetes.Interface
	allowedNames []string
	// volumeDir holds the provisioner's volumes and the snapshots' copies.
	volumeDir string
	// importStep is the time between two steps of a simulated import.
	importStep time.Duration
	// snapshotDelay is how long a VolumeSnapshot takes to be ready.
	snapshotDelay time.Duration
	listers
	pace pacer
	// runState plans the run state each VM's status is to show (reportRunState).
	runState runStatePlans
}

func runKubevirt(args []string) int {
	fs := flag.NewFlagSet("kubevirt", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig")
	port := fs.Int("secure-port", 0, "HTTPS port on 127.0.0.1")
	certFile := fs.String("tls-cert-file", "", "serving certificate")
	keyFile := fs.String("tls-private-key-file", "", "serving key")
	requestheaderCA := fs.String("requestheader-client-ca-file", "", "CA of the aggregator's client certificate")
	allowed := fs.String("requestheader-allowed-names", "front-proxy-client", "common names allowed to send identity headers (comma separated)")
	volumeDir := fs.String("volume-dir", "volumes", "directory of the provisioner's volumes (one directory per PV) and of the snapshots' copies")
	importStep := fs.Duration("import-step-period", 300*time.Millisecond, "time between two steps of a DataVolume import (10 % of progress each)")
	snapshotDelay := fs.Duration("snapshot-delay", 300*time.Millisecond, "time from a VolumeSnapshot's creation until it is ready to use")
	if err := fs.Parse(args); err != nil || *kubeconfig == "" || *port == 0 || *certFile == "" || *keyFile == "" || *requestheaderCA == "" || *importStep <= 0 {
		fmt.Fprintln(os.Stderr, "usage: kkplane kubevirt --kubeconfig=F --secure-port=P --tls-cert-file=F --tls-private-key-file=F --requestheader-client-ca-file=F [--volume-dir=D] [--import-step-period=300ms] [--snapshot-delay=300ms]")
		return 2
	}
	dir, err := filepath.Abs(*volumeDir)
	if err != nil {
		log.Printf("volume directory: %v", err)
		return 1
	}
	if err := os.MkdirAll(filepath.Join(dir, "snapshots"), 0o755); err != nil {
		log.Printf("volume directory: %v", err)
		return 1
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Printf("kubeconfig: %v", err)
		return 1
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		log.Printf("client: %v", err)
		return 1
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Printf("client: %v", err)
		return 1
	}
	caPEM, err := os.ReadFile(*requestheaderCA)
	if err != nil {
		log.Printf("requestheader CA: %v", err)
		return 1
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		log.Printf("requestheader CA: no certificate in %s", *requestheaderCA)
		return 1
	}
	sim := &kubevirtSim{
		client: client, kube: kube, allowedNames: strings.Split(*allowed, ","),
		volumeDir: dir, importStep: *importStep, snapshotDelay: *snapshotDelay,
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go sim.runController(ctx)

	srv := &http.Server{
		Addr:    fmt.Sprintf("127.0.0.1:%d", *port),
		Handler: sim.routes(),
		TLSConfig: &tls.Config{
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  pool,
			MinVersion: tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("virt-api and virt-controller stand-in serving on %s; volumes in %s", srv.Addr, dir)
	if err := srv.ListenAndServeTLS(*certFile, *keyFile); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
		return 1
	}
	return 0
}

// --- HTTP: discovery, authentication, subresources ---------------------------

var subresourcePath = regexp.MustCompile(`^/apis/subresources\.kubevirt\.io/v1/namespaces/([a-z0-9][-a-z0-9]*)/(virtualmachineinstances|virtualmachines)/([a-z0-9][-a-z0-9.]*)/(console|vnc|pause|unpause|restart)$`)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	s := err.ErrStatus
	s.Kind, s.APIVersion = "Status", "v1"
	writeJSON(w, int(s.Code), s)
}

// subresourceOf names the resource each subresource served here belongs to.
var subresourceOf = map[string]string{
	"console": "virtualmachineinstances", "vnc": "virtualmachineinstances",
	"pause": "virtualmachineinstances", "unpause": "virtualmachineinstances",
	"restart": "virtualmachines",
}

var discoveryResources = []metav1.APIResource{
	{Name: "virtualmachineinstances/console", Namespaced: true, Kind: "VirtualMachineInstance", Verbs: []string{"get"}},
	{Name: "virtualmachineinstances/vnc", Namespaced: true, Kind: "VirtualMachineInstance", Verbs: []string{"get"}},
	{Name: "virtualmachineinstances/pause", Namespaced: true, Kind: "VirtualMachineInstance", Verbs: []string{"update"}},
	{Name: "virtualmachineinstances/unpause", Namespaced: true, Kind: "VirtualMachineInstance", Verbs: []string{"update"}},
	{Name: "virtualmachines/restart", Namespaced: true, Kind: "VirtualMachine", Verbs: []string{"update"}},
}

func (s *kubevirtSim) routes() http.Handler {
	group := metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             subresourceGroup,
		Versions:         []metav1.GroupVersionForDiscovery{{GroupVersion: subresourceGroup + "/v1", Version: "v1"}},
		PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: subresourceGroup + "/v1", Version: "v1"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/livez":
			_, _ = io.WriteString(w, "ok")
			return
		case "/apis":
			writeJSON(w, 200, metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{group}})
			return
		case "/apis/" + subresourceGroup:
			writeJSON(w, 200, group)
			return
		case "/apis/" + subresourceGroup + "/v1":
			writeJSON(w, 200, metav1.APIResourceList{
				TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
				GroupVersion: subresourceGroup + "/v1",
				APIResources: discoveryResources,
			})
			return
		case "/openapi/v2":
			writeJSON(w, 200, map[string]any{"swagger": "2.0", "info": map[string]string{"title": "KubeVirt API (stand-in)", "version": "v1"}, "paths": map[string]any{}})
			return
		case "/openapi/v3":
			writeJSON(w, 200, map[string]any{"paths": map[string]any{}})
			return
		}
		m := subresourcePath.FindStringSubmatch(r.URL.Path)
		if m == nil || subresourceOf[m[4]] != m[2] {
			writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Group: subresourceGroup}, r.URL.Path))
			return
		}
		user, ok := s.authenticate(r)
		if !ok {
			writeStatus(w, apierrors.NewUnauthorized("the request did not come through the API server's aggregation layer"))
			return
		}
		ns, resource, name, sub := m[1], m[2], m[3], m[4]
		switch {
		case (sub == "console" || sub == "vnc") && r.Method == http.MethodGet:
			s.stream(w, r, ns, name, sub, user)
		case (sub == "pause" || sub == "unpause") && r.Method == http.MethodPut:
			s.pause(w, r, ns, name, sub == "pause", user)
		case sub == "restart" && r.Method == http.MethodPut:
			s.restart(w, r, ns, name, user)
		default:
			writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: subresourceGroup, Resource: resource + "/" + sub}, r.Method))
		}
	})
}

// authenticate accepts X-Remote-User only from a verified front-proxy client
// certificate whose common name is allowed, as the requestheader authenticator does.
func (s *kubevirtSim) authenticate(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return "", false
	}
	if !slices.Contains(s.allowedNames, r.TLS.VerifiedChains[0][0].Subject.CommonName) {
		return "", false
	}
	user := r.Header.Get("X-Remote-User")
	return user, user != ""
}

// fetch reads an object from the API server, its error as the status to answer with.
func (s *kubevirtSim) fetch(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, *apierrors.StatusError) {
	obj, err := s.client.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		var se *apierrors.StatusError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, apierrors.NewInternalError(err)
	}
	return obj, nil
}

func (s *kubevirtSim) getVMI(ctx context.Context, ns, name string) (*unstructured.Unstructured, *apierrors.StatusError) {
	return s.fetch(ctx, vmiGVR, ns, name)
}

func vmiRunning(vmi *unstructured.Unstructured) bool {
	phase, _, _ := unstructured.NestedString(vmi.Object, "status", "phase")
	return phase == "Running"
}

// conflict is virt-api's 409 about a virtualmachineinstance or a virtualmachine.
func conflict(resource, name, msg string) *apierrors.StatusError {
	return apierrors.NewConflict(schema.GroupResource{Group: "kubevirt.io", Resource: resource}, name, errors.New(msg))
}

func pausedCondition(vmi *unstructured.Unstructured) ([]any, bool) {
	conds, _, _ := unstructured.NestedSlice(vmi.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Paused" && m["status"] == "True" {
			return conds, true
		}
	}
	return conds, false
}

// pause sets or clears the VMI's Paused condition, with virt-api's answers:
// 404 without the VMI, 409 when it is not running, already paused (pause) or
// not paused (unpause). Like virt-controller, it also shows the VM as Paused.
func (s *kubevirtSim) pause(w http.ResponseWriter, r *http.Request, ns, name string, pause bool, user string) {
	var opts struct {
		DryRun []string `json:"dryRun"`
	}
	if body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16)); len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &opts); err != nil {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("Can not unmarshal Request body to struct, error: %v", err)))
			return
		}
	}
	for attempt := 0; ; attempt++ {
		vmi, se := s.getVMI(r.Context(), ns, name)
		if se != nil {
			writeStatus(w, se)
			return
		}
		if !vmiRunning(vmi) {
			writeStatus(w, conflict("virtualmachineinstance", name, "VMI is not running"))
			return
		}
		conds, paused := pausedCondition(vmi)
		if pause && paused {
			writeStatus(w, conflict("virtualmachineinstance", name, "VMI is already paused"))
			return
		}
		if !pause && !paused {
			writeStatus(w, conflict("virtualmachineinstance", name, "VMI is not paused"))
			return
		}
		if slices.Contains(opts.DryRun, metav1.DryRunAll) {
			w.WriteHeader(http.StatusOK)
			return
		}
		kept := make([]any, 0, len(conds)+1)
		for _, c := range conds {
			if m, ok := c.(map[string]any); !ok || m["type"] != "Paused" {
				kept = append(kept, c)
			}
		}
		if pause {
			kept = append(kept, map[string]any{
				"type": "Paused", "status": "True", "reason": "PausedByUser", "message": "VMI was paused by user",
				"lastProbeTime": nil, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
			})
		}
		_ = unstructured.SetNestedSlice(vmi.Object, kept, "status", "conditions")
		_, err := s.client.Resource(vmiGVR).Namespace(ns).UpdateStatus(r.Context(), vmi, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 5 {
			continue // someone else wrote the VMI meanwhile: judge it again
		}
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(err))
			return
		}
		break
	}
	printable := "Running"
	if pause {
		printable = "Paused"
	}
	s.setVMPrintable(r.Context(), ns, name, printable)
	log.Printf("%s %s/%s for %s", map[bool]string{true: "paused", false: "unpaused"}[pause], ns, name, user)
	w.WriteHeader(http.StatusOK)
}

// restart asks for a restart of a running VM as virt-api does: a Stop request
// naming the VMI it runs (by UID) and a Start request, written to the VM's
// status.stateChangeRequests with its resourceVersion. The VM controller
// (syncVM) then deletes that VMI and makes the next one from the VM as it saw
// it with the requests. 202; 404 without the VM; 409 for a runStrategy that
// does not run it, without a VMI ("VM is not running"), or with a stop or start
// already under way; 400 for a grace period other than 0.
func (s *kubevirtSim) restart(w http.ResponseWriter, r *http.Request, ns, name, user string) {
	var opts struct {
		DryRun             []string `json:"dryRun"`
		GracePeriodSeconds *int64   `json:"gracePeriodSeconds"`
	}
	if body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16)); len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &opts); err != nil {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("Can not unmarshal Request body to struct, error: %v", err)))
			return
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds != 0 {
		writeStatus(w, apierrors.NewBadRequest("gracePeriodSeconds: only 0 (a forced restart) is supported"))
		return
	}
	vmConflict := func(msg string) *apierrors.StatusError { return conflict("virtualmachine", name, msg) }
	for attempt := 0; ; attempt++ {
		vm, se := s.fetch(r.Context(), vmGVR, ns, name)
		if se != nil {
			writeStatus(w, se)
			return
		}
		if strategy, _, _ := unstructured.NestedString(vm.Object, "spec", "runStrategy"); strategy == "Halted" || strategy == "Once" {
			writeStatus(w, vmConflict(fmt.Sprintf("RunStrategy %s does not support manual restart requests", strategy)))
			return
		}
		vmi, se := s.getVMI(r.Context(), ns, name)
		if se != nil && apierrors.IsNotFound(se) {
			writeStatus(w, vmConflict("VM is not running"))
			return
		}
		if se != nil {
			writeStatus(w, se)
			return
		}
		if len(stateChangeRequests(vm)) > 0 {
			writeStatus(w, vmConflict("unable to complete request: stop/start already underway"))
			return
		}
		if slices.Contains(opts.DryRun, metav1.DryRunAll) {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		requests := []any{map[string]any{"action": "Stop", "uid": string(vmi.GetUID())}, map[string]any{"action": "Start"}}
		_ = unstructured.SetNestedSlice(vm.Object, requests, "status", "stateChangeRequests")
		_, err := s.client.Resource(vmGVR).Namespace(ns).UpdateStatus(r.Context(), vm, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 5 {
			continue // the VM changed meanwhile: judge it again
		}
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(err))
			return
		}
		break
	}
	log.Printf("restart of %s/%s asked by %s", ns, name, user)
	w.WriteHeader(http.StatusAccepted)
}

// stateChangeRequests are the VM's pending stop and start requests, oldest first.
func stateChangeRequests(vm *unstructured.Unstructured) []map[string]any {
	if vm == nil {
		return nil
	}
	raw, _, _ := unstructured.NestedSlice(vm.Object, "status", "stateChangeRequests")
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func (s *kubevirtSim) setVMPrintable(ctx context.Context, ns, name, printable string) {
	patch := fmt.Sprintf(`{"status":{"printableStatus":%q}}`, printable)
	_, err := s.client.Resource(vmGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		log.Printf("VM %s/%s printableStatus %s: %v", ns, name, printable, err)
	}
}

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{plainSubprotocol},
	CheckOrigin:     func(*http.Request) bool { return true }, // the API server already checked who is asking
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
}

func (s *kubevirtSim) stream(w http.ResponseWriter, r *http.Request, ns, name, sub, user string) {
	vmi, se := s.getVMI(r.Context(), ns, name)
	if se != nil {
		writeStatus(w, se)
		return
	}
	if !vmiRunning(vmi) {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("Unable to connect to VM because phase is %s instead of Running", phaseOf(vmi))))
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	defer conn.Close()
	log.Printf("%s of %s/%s opened for %s", sub, ns, name, user)
	defer log.Printf("%s of %s/%s closed for %s", sub, ns, name, user)
	rw := &wsStream{conn: conn}
	if sub == "console" {
		serialConsole(rw, name)
	} else {
		vncServer(rw, name)
	}
}

func phaseOf(vmi *unstructured.Unstructured) string {
	phase, _, _ := unstructured.NestedString(vmi.Object, "status", "phase")
	if phase == "" {
		return "Pending"
	}
	return phase
}

// wsStream is the byte stream of a plain.kubevirt.io socket: binary messages
// carry raw bytes in both directions (text messages are read the same way).
type wsStream struct {
	conn *websocket.Conn
	buf  []byte
}

func (s *wsStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			return 0, io.EOF
		}
		s.buf = data
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *wsStream) Write(p []byte) (int, error) {
	if err := s.conn.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// serialConsole: a login prompt, every byte echoed, a new prompt after Enter.
func serialConsole(rw io.ReadWriter, name string) {
	prompt := []byte("\r\n" + name + " login: ")
	if _, err := rw.Write(prompt); err != nil {
		return
	}
	buf := make([]byte, 4096)
	for {
		n, err := rw.Read(buf)
		if err != nil {
			return
		}
		out := make([]byte, 0, n+len(prompt))
		for _, b := range buf[:n] {
			if b == '\r' || b == '\n' {
				out = append(out, prompt...)
			} else {
				out = append(out, b)
			}
		}
		if _, err := rw.Write(out); err != nil {
			return
		}
	}
}

// vncServer: RFB 3.8, security type None, a 64x48 framebuffer that never
// changes; a non-incremental FramebufferUpdateRequest gets one raw rectangle.
func vncServer(rw io.ReadWriter, name string) {
	const width, height = 64, 48
	if _, err := rw.Write([]byte("RFB 003.008\n")); err != nil {
		return
	}
	version := make([]byte, 12)
	if _, err := io.ReadFull(rw, version); err != nil || !bytes.HasPrefix(version, []byte("RFB 003.")) {
		return
	}
	if _, err := rw.Write([]byte{1, 1}); err != nil { // one security type: None
		return
	}
	choice := make([]byte, 1)
	if _, err := io.ReadFull(rw, choice); err != nil || choice[0] != 1 {
		_, _ = rw.Write([]byte{0, 0, 0, 1, 0, 0, 0, 20})
		_, _ = rw.Write([]byte("unsupported security"))
		return
	}
	if _, err := rw.Write([]byte{0, 0, 0, 0}); err != nil { // SecurityResult OK
		return
	}
	if _, err := io.ReadFull(rw, choice); err != nil { // ClientInit (shared flag)
		return
	}
	// Pixel format: 32 bpp, depth 24, little endian, true colour, 8 bits per channel.
	format := pixelFormat{bpp: 32, depth: 24, bigEndian: 0, trueColour: 1, redMax: 255, greenMax: 255, blueMax: 255, redShift: 16, greenShift: 8, blueShift: 0}
	init := new(bytes.Buffer)
	_ = binary.Write(init, binary.BigEndian, uint16(width))
	_ = binary.Write(init, binary.BigEndian, uint16(height))
	init.Write(format.bytes())
	desktop := "kubekloud simulated VNC: " + name
	_ = binary.Write(init, binary.BigEndian, uint32(len(desktop)))
	init.WriteString(desktop)
	if _, err := rw.Write(init.Bytes()); err != nil {
		return
	}
	msg := make([]byte, 1)
	for {
		if _, err := io.ReadFull(rw, msg); err != nil {
			return
		}
		var rest []byte
		switch msg[0] {
		case 0: // SetPixelFormat
			rest = make([]byte, 19)
			if _, err := io.ReadFull(rw, rest); err != nil {
				return
			}
			format = parsePixelFormat(rest[3:])
		case 2: // SetEncodings
			rest = make([]byte, 3)
			if _, err := io.ReadFull(rw, rest); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, rw, int64(binary.BigEndian.Uint16(rest[1:]))*4); err != nil {
				return
			}
		case 3: // FramebufferUpdateRequest
			rest = make([]byte, 9)
			if _, err := io.ReadFull(rw, rest); err != nil {
				return
			}
			if rest[0] != 0 {
				continue // incremental: nothing ever changes
			}
			if _, err := rw.Write(framebufferUpdate(width, height, format)); err != nil {
				return
			}
		case 4: // KeyEvent
			if _, err := io.CopyN(io.Discard, rw, 7); err != nil {
				return
			}
		case 5: // PointerEvent
			if _, err := io.CopyN(io.Discard, rw, 5); err != nil {
				return
			}
		case 6: // ClientCutText
			rest = make([]byte, 7)
			if _, err := io.ReadFull(rw, rest); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, rw, int64(binary.BigEndian.Uint32(rest[3:]))); err != nil {
				return
			}
		default:
			return // unknown message: the stream cannot be followed any more
		}
	}
}

type pixelFormat struct {
	bpp, depth, bigEndian, trueColour uint8
	redMax, greenMax, blueMax         uint16
	redShift, greenShift, blueShift   uint8
}

func (f pixelFormat) bytes() []byte {
	b := make([]byte, 16)
	b[0], b[1], b[2], b[3] = f.bpp, f.depth, f.bigEndian, f.trueColour
	binary.BigEndian.PutUint16(b[4:], f.redMax)
	binary.BigEndian.PutUint16(b[6:], f.greenMax)
	binary.BigEndian.PutUint16(b[8:], f.blueMax)
	b[10], b[11], b[12] = f.redShift, f.greenShift, f.blueShift
	return b
}

func parsePixelFormat(b []byte) pixelFormat {
	return pixelFormat{
		bpp: b[0], depth: b[1], bigEndian: b[2], trueColour: b[3],
		redMax: binary.BigEndian.Uint16(b[4:]), greenMax: binary.BigEndian.Uint16(b[6:]), blueMax: binary.BigEndian.Uint16(b[8:]),
		redShift: b[10], greenShift: b[11], blueShift: b[12],
	}
}

// framebufferUpdate: one raw rectangle covering the screen, a colour gradient,
// in the client's pixel format (8, 16 or 32 bits per pixel, true colour).
func framebufferUpdate(width, height int, f pixelFormat) []byte {
	bpp := int(f.bpp) / 8
	if bpp != 1 && bpp != 2 && bpp != 4 {
		bpp = 4
	}
	out := new(bytes.Buffer)
	out.Write([]byte{0, 0, 0, 1}) // FramebufferUpdate, padding, one rectangle
	for _, v := range []uint16{0, 0, uint16(width), uint16(height)} {
		_ = binary.Write(out, binary.BigEndian, v)
	}
	_ = binary.Write(out, binary.BigEndian, int32(0)) // raw encoding
	scale := func(v, max int) uint32 { return uint32(v * max / 255) }
	px := make([]byte, 4)
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			r, g, b := x*255/(width-1), y*255/(height-1), 128
			v := scale(r, int(f.redMax))<<f.redShift | scale(g, int(f.greenMax))<<f.greenShift | scale(b, int(f.blueMax))<<f.blueShift
			if f.bigEndian != 0 {
				binary.BigEndian.PutUint32(px, v<<(8*(4-bpp)))
			} else {
				binary.LittleEndian.PutUint32(px, v)
			}
			out.Write(px[:bpp])
		}
	}
	return out.Bytes()
}

// --- virt-controller's part: VirtualMachine → VirtualMachineInstance ---------

var runningStrategies = map[string]bool{"Always": true, "RerunOnFailure": true, "Once": true}

func (s *kubevirtSim) syncVM(ctx context.Context, key string) (time.Duration, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	vm, vmi := get(s.vms, ns, name), get(s.vmis, ns, name)
	run := false
	if vm != nil && vm.GetDeletionTimestamp() == nil {
		strategy, _, _ := unstructured.NestedString(vm.Object, "spec", "runStrategy")
		run = runningStrategies[strategy]
		// As virt-controller: the DataVolumes of the templates are made at
		// once, whether the VM runs or not.
		if err := s.createDataVolumes(ctx, vm); err != nil {
			return 0, err
		}
	}
	if vmi != nil && !ownedBy(vmi, vm) {
		return 0, nil // a VMI nobody's VM controls (made by hand): left alone
	}
	ready, wrote := true, false
	if vm != nil && vm.GetDeletionTimestamp() == nil {
		dv := s.dataVolumesOf(vm)
		ready = dv.ready
		var err error
		if wrote, err = s.reportDataVolumes(ctx, vm, vmi, dv, run); err != nil {
			return 0, err
		}
	}
	if requests := stateChangeRequests(vm); len(requests) > 0 && vm.GetDeletionTimestamp() == nil { // none without a VM
		return 0, s.playStateChange(ctx, vm, vmi, requests[0], run && ready)
	}
	switch {
	case run && vmi == nil && !ready:
		// waiting for the DataVolumes: no VMI yet
	case run && vmi == nil:
		return 0, s.createVMI(ctx, vm)
	case run && vmi.GetDeletionTimestamp() == nil && phaseOf(vmi) == "Pending":
		return 0, s.startVMI(ctx, vmi)
	case !run && vmi != nil && vmi.GetDeletionTimestamp() == nil:
		err := s.client.Resource(vmiGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(vmi.GetUID())}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	}
	if wrote {
		return 0, nil // the VM written comes back here
	}
	return s.reportRunState(ctx, key, vm, run, ready)
}

// runStatePlans holds, per VM, the run state its status is to show and when
// (in memory: after a restart a VM is planned again from its first look).
type runStatePlans struct {
	mu    sync.Mutex
	plans map[string]runStatePlan
}

type runStatePlan struct {
	want string
	due  time.Time
}

// wait is how long until the VM's status shows want, planned now if it was
// not planned for want already; 0 when want is "" (any plan dropped) or due.
func (p *runStatePlans) wait(key, want string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if want == "" {
		delete(p.plans, key)
		return 0
	}
	if p.plans == nil {
		p.plans = map[string]runStatePlan{}
	}
	plan, ok := p.plans[key]
	if !ok || plan.want != want {
		plan = runStatePlan{want: want, due: time.Now().Add(runStateDelayMin + rand.N(runStateDelayMax-runStateDelayMin))}
		p.plans[key] = plan
	}
	return max(time.Until(plan.due), 0)
}

func (p *runStatePlans) forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.plans, key)
}

// A VM's status shows a change of its run state this long after it was
// first seen to need it (a boot or a shutdown), drawn anew for each change.
const (
	runStateDelayMin = 500 * time.Millisecond
	runStateDelayMax = 1500 * time.Millisecond
)

// reportRunState plays virt-controller's part in a VM's status: a VM whose
// runStrategy runs it (its DataVolumes ready) shows Running, ready and
// created, with condition Ready True; one that does not shows Stopped, not
// ready, with Ready False (VMINotExists). A Paused VM stays Paused. Each
// change is shown runStateDelayMin–Max after it was first needed, and a plan
// no longer needed is dropped: a VM halted and run again within that time
// never reads Stopped while it runs, as with virt-controller.
func (s *kubevirtSim) reportRunState(ctx context.Context, key string, vm *unstructured.Unstructured, run, ready bool) (time.Duration, error) {
	printable, strategy := str(vm, "status", "printableStatus"), str(vm, "spec", "runStrategy")
	want := ""
	// A VM without a runStrategy (spec.running, the older field) is not reported, as it gets no VMI either.
	if vm != nil && vm.GetDeletionTimestamp() == nil && ready && strategy != "" {
		shown, _, _ := unstructured.NestedBool(vm.Object, "status", "ready")
		switch {
		case run && !((printable == "Running" || printable == "Paused") && shown):
			want = "Running"
		case !run && printable != "Stopped":
			want = "Stopped"
		}
	}
	if wait := s.runState.wait(key, want); want == "" || wait > 0 {
		return wait, nil
	}
	next := vm.DeepCopy()
	running := want == "Running"
	shows, reason, message, condition := want, "", "", "True"
	if running && printable == "Paused" {
		shows = "Paused"
	}
	if !running {
		reason, message, condition = "VMINotExists", "VMI does not exist", "False"
	}
	conds := []any{map[string]any{
		"type": "Ready", "status": condition, "reason": reason, "message": message,
		"lastProbeTime": nil, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}}
	if dv := conditionOf(vm, "DataVolumesReady"); dv != nil {
		conds = append(conds, dv)
	}
	for field, v := range map[string]any{"printableStatus": shows, "ready": running, "created": running, "runStrategy": strategy, "conditions": conds} {
		_ = unstructured.SetNestedField(next.Object, v, "status", field)
	}
	_, err := s.client.Resource(vmGVR).Namespace(vm.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err == nil || apierrors.IsNotFound(err) {
		s.runState.forget(key)
		return 0, nil
	}
	return 0, err // a conflict: the newer VM is looked at again, the plan kept
}

// playStateChange plays the oldest of a VM's stop and start requests (a
// restart asks for both), as virt-controller does: a Stop deletes the VMI it
// names and is done once that VMI is gone; a Start makes a VMI from this VM,
// the version that carries the request, so never from a template older than
// the one the VM had when the restart was asked for. Each request done is
// taken off the VM's status; the update brings the VM back here for the next.
func (s *kubevirtSim) playStateChange(ctx context.Context, vm, vmi *unstructured.Unstructured, req map[string]any, canRun bool) error {
	switch req["action"] {
	case "Stop":
		uid, _ := req["uid"].(string)
		if vmi != nil && (uid == "" || string(vmi.GetUID()) == uid) {
			if vmi.GetDeletionTimestamp() != nil {
				return nil // its deletion event brings the VM back here
			}
			err := s.client.Resource(vmiGVR).Namespace(vm.GetNamespace()).Delete(ctx, vmi.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(vmi.GetUID())}})
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				return nil
			}
			return err
		}
	case "Start":
		if vmi == nil {
			if !canRun {
				return nil // waiting for its DataVolumes (or a runStrategy that runs it)
			}
			if err := s.createVMI(ctx, vm); err != nil {
				return err
			}
		}
	}
	next := vm.DeepCopy()
	rest, _, _ := unstructured.NestedSlice(next.Object, "status", "stateChangeRequests")
	if len(rest) <= 1 {
		unstructured.RemoveNestedField(next.Object, "status", "stateChangeRequests")
	} else {
		_ = unstructured.SetNestedSlice(next.Object, rest[1:], "status", "stateChangeRequests")
	}
	_, err := s.client.Resource(vmGVR).Namespace(vm.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err // a conflict: the informer brings the newer VM and it is looked at again
}

func ptr[T any](v T) *T { return &v }

func ownedBy(vmi, vm *unstructured.Unstructured) bool {
	for _, o := range vmi.GetOwnerReferences() {
		if o.Kind == "VirtualMachine" && o.Controller != nil && *o.Controller {
			return vm == nil || o.UID == vm.GetUID()
		}
	}
	return false
}

func (s *kubevirtSim) createVMI(ctx context.Context, vm *unstructured.Unstructured) error {
	tmplMeta, _, _ := unstructured.NestedMap(vm.Object, "spec", "template", "metadata")
	spec, _, _ := unstructured.NestedMap(vm.Object, "spec", "template", "spec")
	meta := map[string]any{
		"name":      vm.GetName(),
		"namespace": vm.GetNamespace(),
		"ownerReferences": []any{map[string]any{
			"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": vm.GetName(), "uid": string(vm.GetUID()),
			"controller": true, "blockOwnerDeletion": true,
		}},
	}
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := tmplMeta[k]; ok {
			meta[k] = v
		}
	}
	vmi := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": meta, "spec": spec,
	}}
	created, err := s.client.Resource(vmiGVR).Namespace(vm.GetNamespace()).Create(ctx, vmi, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // the informer will bring it
	}
	if err != nil {
		return err
	}
	if printable, _, _ := unstructured.NestedString(vm.Object, "status", "printableStatus"); printable == "Paused" {
		s.setVMPrintable(ctx, vm.GetNamespace(), vm.GetName(), "Running") // a new VMI is not paused
	}
	return s.startVMI(ctx, created)
}

// startVMI reports a VMI Running on a fake node (chosen from its UID) with an
// address from 10.244.128.0/17, derived from its UID too.
func (s *kubevirtSim) startVMI(ctx context.Context, vmi *unstructured.Unstructured) error {
	nodes, err := s.nodes.List(labels.SelectorFromSet(labels.Set{"type": "kwok"}))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		names = append(names, n.GetName())
	}
	sort.Strings(names)
	h := fnv.New32a()
	_, _ = h.Write([]byte(vmi.GetUID()))
	sum := h.Sum32()
	node := ""
	if len(names) > 0 {
		node = names[int(sum%uint32(len(names)))]
	}
	ip := fmt.Sprintf("10.244.%d.%d", 128+(sum>>8)%127, 1+sum%254)
	now := time.Now().UTC().Format(time.RFC3339)
	vmi = vmi.DeepCopy()
	vmi.Object["status"] = map[string]any{
		"phase":    "Running",
		"nodeName": node,
		"interfaces": []any{map[string]any{
			"name": "default", "ipAddress": ip, "ipAddresses": []any{ip}, "interfaceName": "eth0",
		}},
		"conditions":                []any{map[string]any{"type": "Ready", "status": "True", "lastProbeTime": nil, "lastTransitionTime": now}},
		"phaseTransitionTimestamps": []any{map[string]any{"phase": "Running", "phaseTransitionTimestamp": now}},
	}
	_, err = s.client.Resource(vmiGVR).Namespace(vmi.GetNamespace()).UpdateStatus(ctx, vmi, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or changed: the informer brings the next version
	}
	return err
}

// --- virt-controller's part: a VM's DataVolumes ------------------------------

// vmOwnerRef is the controller reference virt-controller puts on what it
// makes for a VM.
func vmOwnerRef(vm *unstructured.Unstructured) map[string]any {
	return map[string]any{
		"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": vm.GetName(), "uid": string(vm.GetUID()),
		"controller": true, "blockOwnerDeletion": true,
	}
}

// dataVolumeFromTemplate is the DataVolume of one of a VM's
// dataVolumeTemplates, as virt-controller makes it: the template's name,
// labels (plus kubevirt.io/created-by) and annotations (plus claim adoption),
// its spec, owned by the VM.
func dataVolumeFromTemplate(vm *unstructured.Unstructured, tmpl map[string]any) *unstructured.Unstructured {
	meta, _, _ := unstructured.NestedMap(tmpl, "metadata")
	labels := map[string]any{}
	if l, ok := meta["labels"].(map[string]any); ok {
		maps.Copy(labels, l)
	}
	labels["kubevirt.io/created-by"] = string(vm.GetUID())
	annotations := map[string]any{}
	if a, ok := meta["annotations"].(map[string]any); ok {
		maps.Copy(annotations, a)
	}
	annotations[allowClaimAdoptionAnnotation] = "true"
	spec, _, _ := unstructured.NestedMap(tmpl, "spec")
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cdi.kubevirt.io/v1beta1",
		"kind":       "DataVolume",
		"metadata": map[string]any{
			"name": meta["name"], "namespace": vm.GetNamespace(), "labels": labels, "annotations": annotations,
			"ownerReferences": []any{vmOwnerRef(vm)},
		},
		"spec": spec,
	}}
}

func templateName(tmpl any) string {
	m, _ := tmpl.(map[string]any)
	name, _, _ := unstructured.NestedString(m, "metadata", "name")
	return name
}

// createDataVolumes creates the DataVolumes of the VM's templates that do not exist.
func (s *kubevirtSim) createDataVolumes(ctx context.Context, vm *unstructured.Unstructured) error {
	templates, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
	for _, t := range templates {
		name := templateName(t)
		if name == "" || get(s.dvs, vm.GetNamespace(), name) != nil {
			continue
		}
		dv := dataVolumeFromTemplate(vm, t.(map[string]any))
		_, err := s.client.Resource(dataVolumeGVR).Namespace(vm.GetNamespace()).Create(ctx, dv, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("creating DataVolume %s: %w", name, err)
		}
		log.Printf("created DataVolume %s/%s for VM %s", vm.GetNamespace(), name, vm.GetName())
	}
	return nil
}

// dvState: what a VM's DataVolumes (those of its templates and of its
// dataVolume volumes) mean for it.
type dvState struct {
	tracked bool   // it has some
	ready   bool   // all of them exist and have Succeeded
	failed  string // the first that Failed, in virt-controller's words ("" without)
}

func (s *kubevirtSim) dataVolumesOf(vm *unstructured.Unstructured) dvState {
	var names []string
	templates, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
	for _, t := range templates {
		if n := templateName(t); n != "" {
			names = append(names, n)
		}
	}
	volumes, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "volumes")
	for _, v := range volumes {
		m, _ := v.(map[string]any)
		if n, _, _ := unstructured.NestedString(m, "dataVolume", "name"); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	st := dvState{tracked: len(names) > 0, ready: true}
	for _, n := range names {
		dv := get(s.dvs, vm.GetNamespace(), n)
		if dv == nil {
			st.ready = false
			continue
		}
		phase := str(dv, "status", "phase")
		if phase != "Succeeded" {
			st.ready = false
		}
		// Only a Failed DataVolume counts: KubeVirt also shows DataVolumeError
		// between the restarts of an importer that stopped with an error.
		if phase == "Failed" && st.failed == "" {
			st.failed = fmt.Sprintf("DataVolume %s is in Failed phase", n)
		}
	}
	return st
}

// reportDataVolumes shows a VM's DataVolumes in its status as virt-controller
// does: the condition DataVolumesReady and, while they are not ready and no
// VMI runs, printableStatus Provisioning (DataVolumeError when one failed).
// Its run state is not reported while the condition is False; once it turns
// True a VM that runs shows Starting until reportRunState shows it Running.
// It tells whether it wrote the VM.
func (s *kubevirtSim) reportDataVolumes(ctx context.Context, vm, vmi *unstructured.Unstructured, st dvState, run bool) (bool, error) {
	if !st.tracked {
		return false, nil
	}
	status, reason, message := "True", "AllDVsReady", "All of the VMI's DVs are bound and ready"
	if !st.ready {
		status, reason, message = "False", "NotAllDVsReady", "Not all of the VMI's DVs are ready"
	}
	before := conditionOf(vm, "DataVolumesReady")
	conds, _, _ := unstructured.NestedSlice(vm.Object, "status", "conditions")
	conds = withCondition(conds, "DataVolumesReady", status, reason, message, map[string]any{"lastProbeTime": nil})
	printable := str(vm, "status", "printableStatus")
	want := printable
	switch {
	case !st.ready && (vmi == nil || phaseOf(vmi) != "Running"):
		want = "Provisioning"
		if st.failed != "" {
			want = "DataVolumeError"
		}
	case st.ready && vmi == nil && run && before != nil && before["status"] == "False":
		want = "Starting"
	}
	old, _, _ := unstructured.NestedSlice(vm.Object, "status", "conditions")
	if want == printable && reflect.DeepEqual(old, conds) {
		return false, nil
	}
	updated := vm.DeepCopy()
	_ = unstructured.SetNestedSlice(updated.Object, conds, "status", "conditions")
	_ = unstructured.SetNestedField(updated.Object, want, "status", "printableStatus")
	_, err := s.client.Resource(vmGVR).Namespace(vm.GetNamespace()).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err == nil && want != printable {
		log.Printf("VM %s/%s: %s (DataVolumesReady %s)", vm.GetNamespace(), vm.GetName(), want, status)
	}
	return err == nil, err
}
