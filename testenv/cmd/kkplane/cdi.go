package main

// CDI's DataVolume controller, simulated: a DataVolume gets a claim of its
// name (owned by it) and, once the claim is Bound (the PV controller and the
// provisioner of storage.go), an "import" that only reports progress:
// ImportScheduled, ImportInProgress with status.progress rising by 10 % every
// --import-step-period, then Succeeded at "100.0%". The conditions Bound,
// Running and Ready and status.restartCount are those CDI reports. A source
// URL containing "fail" fails as an unreachable source does: the importer
// exits with CDI's error, is restarted (restartCount), and after
// importFailRestarts restarts the DataVolume is Failed. A blank source, or a
// claim the DataVolume adopts (cdi.kubevirt.io/storage.populatedFor, or
// cdi.kubevirt.io/allowClaimAdoption as virt-controller sets it), Succeeds at
// once. Nothing is downloaded: the volume's directory gets a small marker file.
// DataVolumes are never garbage-collected after completion.

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

const (
	allowClaimAdoptionAnnotation = "cdi.kubevirt.io/allowClaimAdoption"
	populatedForAnnotation       = "cdi.kubevirt.io/storage.populatedFor"
	prePopulatedAnnotation       = "cdi.kubevirt.io/storage.prePopulated"
	defaultClassAnnotation       = "storageclass.kubernetes.io/is-default-class"
	// importFailRestarts: how often a failing importer is restarted before
	// the DataVolume is reported Failed.
	importFailRestarts = 3
	podRunningReason   = "Pod is running"
)

// pacer keeps the steps of one key apart by a period (in memory: after a
// restart the next step comes at once).
type pacer struct {
	mu   sync.Mutex
	next map[string]time.Time
}

// wait is how long the key must wait before its next step.
func (p *pacer) wait(key string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := time.Until(p.next[key]); d > 0 {
		return d
	}
	return 0
}

func (p *pacer) stepped(key string, period time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == nil {
		p.next = map[string]time.Time{}
	}
	p.next[key] = time.Now().Add(period)
}

func (p *pacer) forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.next, key)
}

// dataVolumeSource is the kind of a DataVolume's source and its URL, if any.
func dataVolumeSource(dv *unstructured.Unstructured) (kind, url string) {
	src, _, _ := unstructured.NestedMap(dv.Object, "spec", "source")
	for _, k := range []string{"http", "registry", "s3", "gcs", "imageio", "vddk", "blank", "pvc", "snapshot", "upload"} {
		if m, ok := src[k]; ok {
			u, _, _ := unstructured.NestedString(map[string]any{"s": m}, "s", "url")
			return k, u
		}
	}
	return "blank", ""
}

// sourceError is the message CDI's importer ends with when the source cannot be read.
func sourceError(kind, url string) string {
	if kind == "registry" {
		image := strings.TrimPrefix(strings.TrimPrefix(url, "docker://"), "oci-archive://")
		return fmt.Sprintf("Unable to process data: Unable to transfer source data to scratch space: Failed to read registry image: Error retrieving image: reading manifest %s: manifest unknown", image)
	}
	return "Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found"
}

func dataVolumeOwnerRef(dv *unstructured.Unstructured) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: "cdi.kubevirt.io/v1beta1", Kind: "DataVolume", Name: dv.GetName(), UID: dv.GetUID(), Controller: &t, BlockOwnerDeletion: &t}
}

func (s *kubevirtSim) defaultStorageClass() string {
	classes, err := s.classes.List(everything)
	if err != nil {
		return ""
	}
	var best *metav1.ObjectMeta
	for _, c := range classes {
		if c.Annotations[defaultClassAnnotation] == "true" && (best == nil || c.CreationTimestamp.After(best.CreationTimestamp.Time)) {
			best = &c.ObjectMeta
		}
	}
	if best == nil {
		return ""
	}
	return best.Name
}

func (s *kubevirtSim) syncDataVolume(ctx context.Context, key string) (time.Duration, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	dv := get(s.dvs, ns, name)
	if dv == nil || dv.GetDeletionTimestamp() != nil {
		s.pace.forget(key)
		return 0, nil
	}
	pvc, err := s.pvcs.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, s.createClaim(ctx, dv)
	}
	if err != nil {
		return 0, err
	}
	status, _, _ := unstructured.NestedMap(dv.Object, "status")
	if status == nil {
		status = map[string]any{}
	}
	before := deepCopyMap(status)
	conds, _, _ := unstructured.NestedSlice(dv.Object, "status", "conditions")
	heartbeat := map[string]any{"lastHeartbeatTime": now()}
	setCond := func(typ, st, reason, message string) {
		conds = withCondition(conds, typ, st, reason, message, heartbeat)
	}

	if !metav1.IsControlledBy(pvc, dv) {
		if pvc.Annotations[populatedForAnnotation] != name && dv.GetAnnotations()[allowClaimAdoptionAnnotation] != "true" {
			setCond("Bound", "False", "ErrResourceExists", fmt.Sprintf("Resource %q already exists and is not managed by DataVolume", name))
			status["conditions"] = conds
			return 0, s.writeDataVolumeStatus(ctx, dv, before, status)
		}
		return 0, s.adoptClaim(ctx, dv, pvc)
	}

	status["claimName"] = pvc.Name
	if status["progress"] == nil {
		status["progress"] = "N/A"
	}
	phase, _ := status["phase"].(string)
	switch pvc.Status.Phase {
	case v1.ClaimBound:
		setCond("Bound", "True", "Bound", fmt.Sprintf("PVC %s Bound", pvc.Name))
	case v1.ClaimLost:
		setCond("Bound", "False", "ClaimLost", "Claim Lost")
	default:
		setCond("Bound", "False", "Pending", fmt.Sprintf("PVC %s Pending", pvc.Name))
	}
	if pvc.Status.Phase != v1.ClaimBound || phase == "Succeeded" || phase == "Failed" {
		if phase == "" {
			status["phase"] = "Pending"
			setCond("Ready", "False", "", "")
			setCond("Running", "False", "", "")
		}
		status["conditions"] = conds
		return 0, s.writeDataVolumeStatus(ctx, dv, before, status)
	}

	kind, url := dataVolumeSource(dv)
	succeed := func(message string) {
		status["phase"] = "Succeeded"
		status["progress"] = "100.0%"
		setCond("Running", "False", "Completed", message)
		setCond("Ready", "True", "", "")
	}
	var after time.Duration
	switch {
	case dv.GetAnnotations()[prePopulatedAnnotation] != "":
		succeed("")
	case kind == "blank":
		succeed("Import Complete")
	case kind == "upload":
		status["phase"] = "UploadReady"
		setCond("Running", "True", podRunningReason, "")
		setCond("Ready", "False", "", "")
	default:
		if wait := s.pace.wait(key); wait > 0 {
			return wait, nil
		}
		scheduled, inProgress, done := "ImportScheduled", "ImportInProgress", "Import Complete"
		if kind == "pvc" || kind == "snapshot" {
			scheduled, inProgress, done = "CloneScheduled", "CloneInProgress", "Clone Complete"
		}
		running := findCondition(conds, "Running")
		restarts, _ := status["restartCount"].(int64)
		switch phase {
		case "", "Pending":
			status["phase"] = scheduled
			setCond("Running", "False", "", "")
			setCond("Ready", "False", "", "")
		case scheduled:
			status["phase"] = inProgress
			status["progress"] = "0.00%"
			setCond("Running", "True", podRunningReason, "")
			setCond("Ready", "False", "TransferRunning", "")
		case inProgress:
			switch {
			case !strings.Contains(url, "fail"):
				p, _ := strconv.ParseFloat(strings.TrimSuffix(fmt.Sprint(status["progress"]), "%"), 64)
				if p += 10; p >= 100 {
					succeed(done)
					s.writeMarker(pvc, kind, url)
				} else {
					status["progress"] = fmt.Sprintf("%.2f%%", p)
				}
			case running != nil && running["status"] == "True":
				// The importer exits with the source's error, and is restarted.
				setCond("Running", "False", "Error", sourceError(kind, url))
				setCond("Ready", "False", "", "")
				status["restartCount"] = restarts + 1
				if restarts+1 >= importFailRestarts {
					status["phase"] = "Failed"
				}
			default:
				setCond("Running", "True", podRunningReason, "")
				setCond("Ready", "False", "TransferRunning", "")
			}
		}
		s.pace.stepped(key, s.importStep)
		after = s.importStep
	}
	status["conditions"] = conds
	if err := s.writeDataVolumeStatus(ctx, dv, before, status); err != nil {
		return 0, err
	}
	if p, _ := status["phase"].(string); p == "Succeeded" || p == "Failed" {
		s.pace.forget(key)
		return 0, nil
	}
	return after, nil
}

func deepCopyMap(m map[string]any) map[string]any {
	return (&unstructured.Unstructured{Object: m}).DeepCopy().Object
}

// replaceStatus writes a namespaced object's whole status through the status
// subresource, unless it equals before; an object deleted meanwhile is no
// error. It says whether it wrote.
func (s *kubevirtSim) replaceStatus(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, before, status map[string]any) (bool, error) {
	if equalJSON(before, status) {
		return false, nil
	}
	updated := obj.DeepCopy()
	updated.Object["status"] = status
	_, err := s.client.Resource(gvr).Namespace(obj.GetNamespace()).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (s *kubevirtSim) writeDataVolumeStatus(ctx context.Context, dv *unstructured.Unstructured, before, status map[string]any) error {
	wrote, err := s.replaceStatus(ctx, dataVolumeGVR, dv, before, status)
	if wrote && before["phase"] != status["phase"] {
		log.Printf("DataVolume %s/%s: %v", dv.GetNamespace(), dv.GetName(), status["phase"])
	}
	return err
}

// createClaim makes the DataVolume's claim as CDI does: same name, owned by
// the DataVolume, the size of spec.storage (or spec.pvc), the class of the
// spec or the default one, ReadWriteOnce unless the spec says otherwise.
func (s *kubevirtSim) createClaim(ctx context.Context, dv *unstructured.Unstructured) error {
	storage, _, _ := unstructured.NestedMap(dv.Object, "spec", "storage")
	if storage == nil {
		storage, _, _ = unstructured.NestedMap(dv.Object, "spec", "pvc")
	}
	raw, _, _ := unstructured.NestedFieldNoCopy(storage, "resources", "requests", "storage")
	size, err := resource.ParseQuantity(fmt.Sprint(raw))
	if raw == nil || err != nil {
		conds, _, _ := unstructured.NestedSlice(dv.Object, "status", "conditions")
		status := map[string]any{"phase": "Pending", "progress": "N/A",
			"conditions": withCondition(conds, "Bound", "False", "ErrClaimNotValid", "DataVolume spec is missing the requested storage size", map[string]any{"lastHeartbeatTime": now()})}
		before, _, _ := unstructured.NestedMap(dv.Object, "status")
		return s.writeDataVolumeStatus(ctx, dv, before, status)
	}
	modes := []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}
	if list, _, _ := unstructured.NestedStringSlice(storage, "accessModes"); len(list) > 0 {
		modes = modes[:0]
		for _, m := range list {
			modes = append(modes, v1.PersistentVolumeAccessMode(m))
		}
	}
	var class *string
	if c, _, _ := unstructured.NestedString(storage, "storageClassName"); c != "" {
		class = &c
	} else if c := s.defaultStorageClass(); c != "" {
		class = &c
	}
	var volumeMode *v1.PersistentVolumeMode
	if m, _, _ := unstructured.NestedString(storage, "volumeMode"); m != "" {
		volumeMode = (*v1.PersistentVolumeMode)(&m)
	}
	kind, url := dataVolumeSource(dv)
	source := map[string]string{"blank": "none"}[kind]
	if source == "" {
		source = kind
	}
	labels := map[string]string{
		"app":                          "containerized-data-importer",
		"app.kubernetes.io/component":  "storage",
		"app.kubernetes.io/managed-by": "cdi-controller",
	}
	for k, v := range dv.GetLabels() {
		labels[k] = v
	}
	annotations := map[string]string{
		"cdi.kubevirt.io/storage.contentType":             "kubevirt",
		"cdi.kubevirt.io/storage.import.source":           source,
		"cdi.kubevirt.io/createdForDataVolume":            string(dv.GetUID()),
		"cdi.kubevirt.io/storage.preallocation.requested": "false",
	}
	if url != "" {
		annotations["cdi.kubevirt.io/storage.import.endpoint"] = url
	}
	pvc := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: dv.GetName(), Namespace: dv.GetNamespace(), Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{dataVolumeOwnerRef(dv)},
		},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes:      modes,
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: size}},
			StorageClassName: class,
			VolumeMode:       volumeMode,
		},
	}
	_, err = s.kube.CoreV1().PersistentVolumeClaims(dv.GetNamespace()).Create(ctx, pvc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // the informer brings it
	}
	if err != nil {
		return fmt.Errorf("creating the claim of DataVolume %s: %w", dv.GetName(), err)
	}
	// A DataVolume whose claim had gone starts over.
	if phase := str(dv, "status", "phase"); phase != "" && phase != "Pending" {
		before, _, _ := unstructured.NestedMap(dv.Object, "status")
		status := deepCopyMap(before)
		status["phase"], status["progress"] = "Pending", "N/A"
		return s.writeDataVolumeStatus(ctx, dv, before, status)
	}
	return nil
}

// adoptClaim makes an existing claim the DataVolume's, already populated, as
// CDI does for a claim restored for it (populatedFor) or adopted.
func (s *kubevirtSim) adoptClaim(ctx context.Context, dv *unstructured.Unstructured, pvc *v1.PersistentVolumeClaim) error {
	if dv.GetAnnotations()[prePopulatedAnnotation] == "" {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, prePopulatedAnnotation, dv.GetName())
		if _, err := s.client.Resource(dataVolumeGVR).Namespace(dv.GetNamespace()).Patch(ctx, dv.GetName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	if metav1.GetControllerOf(pvc) != nil {
		return fmt.Errorf("claim %s already has a controller", pvc.Name)
	}
	updated := pvc.DeepCopy()
	updated.OwnerReferences = append(updated.OwnerReferences, dataVolumeOwnerRef(dv))
	delete(updated.Annotations, populatedForAnnotation)
	_, err := s.kube.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
	if err == nil {
		log.Printf("DataVolume %s/%s adopted its claim", dv.GetNamespace(), dv.GetName())
	}
	return err
}

// writeMarker leaves a note in the imported volume's directory.
func (s *kubevirtSim) writeMarker(pvc *v1.PersistentVolumeClaim, kind, url string) {
	pv, err := s.pvs.Get(pvc.Spec.VolumeName)
	if err != nil || pv.Spec.HostPath == nil || filepath.Dir(pv.Spec.HostPath.Path) != s.volumeDir {
		return
	}
	note := fmt.Sprintf("simulated %s import of %s at %s\n", kind, url, now())
	_ = os.WriteFile(filepath.Join(pv.Spec.HostPath.Path, "disk.img"), []byte(note), 0o644)
}
