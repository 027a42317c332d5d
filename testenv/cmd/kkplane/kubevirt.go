package main

// `kkplane kubevirt` stands in for the two KubeVirt components the plane
// needs to exercise what KubeKloud does with virtual machines, without any
// VM ever running:
//
//   - virt-api's subresource server (subresources.kubevirt.io/v1), registered
//     with the real kube-apiserver through an APIService, so authentication,
//     authorization (RBAC on virtualmachineinstances/console, /vnc, /pause,
//     /unpause) and proxying stay the API server's own. It trusts the
//     aggregator's identity headers only from a client certificate signed by
//     the front-proxy CA (requestheader), as an aggregated API server must.
//     console: a simulated serial line (login prompt, echo); vnc: an RFB 3.8
//     server with security type None and a small framebuffer; pause/unpause:
//     the VMI's Paused condition, written through the API server.
//   - the part of virt-controller that turns a VirtualMachine into a
//     VirtualMachineInstance: a VM whose runStrategy runs it gets a VMI of the
//     same name (labels and annotations of its template, owned by the VM),
//     reported Running on one of the fake nodes with an address; Halted or
//     Manual deletes it. A deleted VMI of a running VM is created again.
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
	"net/http"
	"os"
	"os/signal"
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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

var (
	vmGVR   = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}
	vmiGVR  = schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachineinstances"}
	nodeGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

const (
	subresourceGroup = "subresources.kubevirt.io"
	plainSubprotocol = "plain.kubevirt.io"
)

type kubevirtSim struct {
	client       dynamic.Interface
	allowedNames []string
	importer     *importer
	// Informer lookups, set once the controller runs.
	dvs, pvcs func(ns, name string) (*unstructured.Unstructured, bool)
}

func runKubevirt(args []string) int {
	fs := flag.NewFlagSet("kubevirt", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig")
	port := fs.Int("secure-port", 0, "HTTPS port on 127.0.0.1")
	certFile := fs.String("tls-cert-file", "", "serving certificate")
	keyFile := fs.String("tls-private-key-file", "", "serving key")
	requestheaderCA := fs.String("requestheader-client-ca-file", "", "CA of the aggregator's client certificate")
	allowed := fs.String("requestheader-allowed-names", "front-proxy-client", "common names allowed to send identity headers (comma separated)")
	volumeDir := fs.String("volume-dir", "", "where the provisioner makes its volumes (one directory each); none: no provisioner")
	importStep := fs.Duration("import-step", 300*time.Millisecond, "how long each 10 % of a DataVolume import takes")
	if err := fs.Parse(args); err != nil || *kubeconfig == "" || *port == 0 || *certFile == "" || *keyFile == "" || *requestheaderCA == "" {
		fmt.Fprintln(os.Stderr, "usage: kkplane kubevirt --kubeconfig=F --secure-port=P --tls-cert-file=F --tls-private-key-file=F --requestheader-client-ca-file=F")
		return 2
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
	sim := &kubevirtSim{client: client, allowedNames: strings.Split(*allowed, ",")}
	sim.importer = &importer{sim: sim, step: *importStep, busy: map[string]bool{}}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *volumeDir != "" {
		if err := runProvisioner(ctx, cfg, *volumeDir); err != nil {
			log.Printf("provisioner: %v", err)
			return 1
		}
	}
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
	log.Printf("virt-api and virt-controller stand-in serving on %s", srv.Addr)
	if err := srv.ListenAndServeTLS(*certFile, *keyFile); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
		return 1
	}
	return 0
}

// --- HTTP: discovery, authentication, subresources ---------------------------

var subresourcePath = regexp.MustCompile(`^/apis/subresources\.kubevirt\.io/v1/namespaces/([a-z0-9][-a-z0-9]*)/virtualmachineinstances/([a-z0-9][-a-z0-9.]*)/(console|vnc|pause|unpause)$`)

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

var discoveryResources = []metav1.APIResource{
	{Name: "virtualmachineinstances/console", Namespaced: true, Kind: "VirtualMachineInstance", Verbs: []string{"get"}},
	{Name: "virtualmachineinstances/vnc", Namespaced: true, Kind: "VirtualMachineInstance", Verbs: []string{"get"}},
	{Name: "virtualmachineinstances/pause", Namespaced: true, Kind: "VirtualMachineInstance", Verbs: []string{"update"}},
	{Name: "virtualmachineinstances/unpause", Namespaced: true, Kind: "VirtualMachineInstance", Verbs: []string{"update"}},
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
		if m == nil {
			writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Group: subresourceGroup}, r.URL.Path))
			return
		}
		user, ok := s.authenticate(r)
		if !ok {
			writeStatus(w, apierrors.NewUnauthorized("the request did not come through the API server's aggregation layer"))
			return
		}
		ns, name, sub := m[1], m[2], m[3]
		switch {
		case (sub == "console" || sub == "vnc") && r.Method == http.MethodGet:
			s.stream(w, r, ns, name, sub, user)
		case (sub == "pause" || sub == "unpause") && r.Method == http.MethodPut:
			s.pause(w, r, ns, name, sub == "pause", user)
		default:
			writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: subresourceGroup, Resource: "virtualmachineinstances/" + sub}, r.Method))
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

func (s *kubevirtSim) getVMI(ctx context.Context, ns, name string) (*unstructured.Unstructured, *apierrors.StatusError) {
	vmi, err := s.client.Resource(vmiGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		var se *apierrors.StatusError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, apierrors.NewInternalError(err)
	}
	return vmi, nil
}

func vmiRunning(vmi *unstructured.Unstructured) bool {
	phase, _, _ := unstructured.NestedString(vmi.Object, "status", "phase")
	return phase == "Running"
}

func conflict(name, msg string) *apierrors.StatusError {
	return apierrors.NewConflict(schema.GroupResource{Group: "kubevirt.io", Resource: "virtualmachineinstance"}, name, errors.New(msg))
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
			writeStatus(w, conflict(name, "VMI is not running"))
			return
		}
		conds, paused := pausedCondition(vmi)
		if pause && paused {
			writeStatus(w, conflict(name, "VMI is already paused"))
			return
		}
		if !pause && !paused {
			writeStatus(w, conflict(name, "VMI is not paused"))
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

func (s *kubevirtSim) runController(ctx context.Context) {
	factory := dynamicinformer.NewDynamicSharedInformerFactory(s.client, 10*time.Minute)
	vms := factory.ForResource(vmGVR)
	vmis := factory.ForResource(vmiGVR)
	dvs := factory.ForResource(dvGVR)
	pvcs := factory.ForResource(pvcGVR)
	// Keys: "ns/name" of a VM, or "dv:ns/name" of a DataVolume.
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	// A DataVolume: its import, and the VM that owns it; a claim: its DataVolume's import.
	enqueueOwned := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		if u.GetKind() == "DataVolume" {
			queue.Add("dv:" + u.GetNamespace() + "/" + u.GetName())
		}
		for _, o := range u.GetOwnerReferences() {
			switch o.Kind {
			case "VirtualMachine":
				queue.Add(u.GetNamespace() + "/" + o.Name)
			case "DataVolume":
				queue.Add("dv:" + u.GetNamespace() + "/" + o.Name)
			}
		}
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue}
	owned := cache.ResourceEventHandlerFuncs{AddFunc: enqueueOwned, UpdateFunc: func(_, o any) { enqueueOwned(o) }, DeleteFunc: enqueueOwned}
	_, _ = vms.Informer().AddEventHandler(handler)
	_, _ = vmis.Informer().AddEventHandler(handler)
	_, _ = dvs.Informer().AddEventHandler(owned)
	_, _ = pvcs.Informer().AddEventHandler(owned)
	s.dvs, s.pvcs = lookup(dvs.Lister()), lookup(pvcs.Lister())
	factory.Start(ctx.Done())
	for !cache.WaitForCacheSync(ctx.Done(), vms.Informer().HasSynced, vmis.Informer().HasSynced, dvs.Informer().HasSynced, pvcs.Informer().HasSynced) {
		if ctx.Err() != nil {
			return
		}
	}
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, quit := queue.Get()
				if quit {
					return
				}
				var err error
				if dvKey, ok := strings.CutPrefix(key, "dv:"); ok {
					ns, name, _ := cache.SplitMetaNamespaceKey(dvKey)
					if dv, found := s.dvs(ns, name); found {
						err = s.importer.syncDataVolume(ctx, dv, s.pvcs)
					}
				} else {
					err = s.syncVM(ctx, key, vms.Lister(), vmis.Lister())
				}
				if err != nil {
					log.Printf("sync %s: %v", key, err)
					queue.AddRateLimited(key)
				} else {
					queue.Forget(key)
				}
				queue.Done(key)
			}
		}()
	}
	wg.Wait()
}

func (s *kubevirtSim) syncVM(ctx context.Context, key string, vms, vmis cache.GenericLister) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	vmObj, vmErr := vms.ByNamespace(ns).Get(name)
	vmiObj, vmiErr := vmis.ByNamespace(ns).Get(name)
	var vm, vmi *unstructured.Unstructured
	if vmErr == nil {
		vm = vmObj.(*unstructured.Unstructured)
	}
	if vmiErr == nil {
		vmi = vmiObj.(*unstructured.Unstructured)
	}
	if vmi != nil && !ownedBy(vmi, vm) {
		return nil // a VMI nobody's VM controls (made by hand): left alone
	}
	run := false
	if vm != nil && vm.GetDeletionTimestamp() == nil {
		strategy, _, _ := unstructured.NestedString(vm.Object, "spec", "runStrategy")
		run = runningStrategies[strategy]
		// Its DataVolumes first, whether it runs or not; a VM to run waits for them.
		waiting, err := s.vmDataVolumes(ctx, vm, s.dvs)
		if err != nil {
			return err
		}
		printable, _, _ := unstructured.NestedString(vm.Object, "status", "printableStatus")
		if run && vmi == nil && waiting != "" {
			if printable != waiting {
				s.setVMPrintable(ctx, ns, name, waiting)
			}
			return nil
		}
		if run && waiting == "" && (printable == "Provisioning" || printable == "DataVolumeError") {
			s.setVMPrintable(ctx, ns, name, "Starting") // kwok's stage takes it on to Running
		}
	}
	switch {
	case run && vmi == nil:
		return s.createVMI(ctx, vm)
	case run && vmi.GetDeletionTimestamp() == nil && phaseOf(vmi) == "Pending":
		return s.startVMI(ctx, vmi)
	case !run && vmi != nil && vmi.GetDeletionTimestamp() == nil:
		err := s.client.Resource(vmiGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(vmi.GetUID())}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// lookup finds an object of a lister by namespace and name.
func lookup(l cache.GenericLister) func(ns, name string) (*unstructured.Unstructured, bool) {
	return func(ns, name string) (*unstructured.Unstructured, bool) {
		o, err := l.ByNamespace(ns).Get(name)
		if err != nil {
			return nil, false
		}
		u, ok := o.(*unstructured.Unstructured)
		return u, ok
	}
}

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
	nodes, err := s.client.Resource(nodeGVR).List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(nodes.Items))
	for _, n := range nodes.Items {
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
