package main

// Storage for the plane, run inside `kkplane kubevirt`:
//
//   - a dynamic provisioner on sigs.k8s.io/sig-storage-lib-external-provisioner
//     (provisioner kubekloud.io/kkplane-local, the default StorageClass
//     kk-standard that the harness creates): a claim of that class gets a
//     hostPath PersistentVolume of the size it asks for, a directory under the
//     plane's run directory, and the real PV controller binds them; Delete
//     removes the directory. Nothing is ever mounted.
//   - CDI's part for DataVolumes (cdi.kubevirt.io/v1beta1): each DataVolume
//     gets a claim of its own name (owned by it), and once the claim is Bound
//     an "import" whose progress rises in steps to Succeeded, as CDI reports
//     it; a source URL containing "fail" ends Failed with CDI's reason for an
//     HTTP 404, after the importer "restarted" a few times.
//   - virt-controller's part for dataVolumeTemplates (kubevirt.go): the
//     DataVolumes of a VM are created from its templates, and the VM gets no
//     VMI until all of them have Succeeded (printableStatus Provisioning, or
//     DataVolumeError when one failed).

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const provisionerName = "kubekloud.io/kkplane-local"

var (
	dvGVR  = schema.GroupVersionResource{Group: "cdi.kubevirt.io", Version: "v1beta1", Resource: "datavolumes"}
	pvcGVR = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
)

// --- The provisioner --------------------------------------------------------

type localProvisioner struct{ root string }

func (p *localProvisioner) Provision(_ context.Context, o controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	dir := filepath.Join(p.root, o.PVName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	size := o.PVC.Spec.Resources.Requests[v1.ResourceStorage]
	reclaim := v1.PersistentVolumeReclaimDelete
	if o.StorageClass.ReclaimPolicy != nil {
		reclaim = *o.StorageClass.ReclaimPolicy
	}
	modes := o.PVC.Spec.AccessModes
	if len(modes) == 0 {
		modes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}
	}
	hostPath := v1.HostPathDirectoryOrCreate
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   modes,
			Capacity:                      v1.ResourceList{v1.ResourceStorage: size},
			VolumeMode:                    o.PVC.Spec.VolumeMode,
			PersistentVolumeSource:        v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: dir, Type: &hostPath}},
		},
	}, controller.ProvisioningFinished, nil
}

func (p *localProvisioner) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	if pv.Spec.HostPath == nil || filepath.Dir(pv.Spec.HostPath.Path) != p.root {
		return nil // not one of ours
	}
	return os.RemoveAll(pv.Spec.HostPath.Path)
}

func runProvisioner(ctx context.Context, cfg *rest.Config, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	pc := controller.NewProvisionController(ctx, client, provisionerName, &localProvisioner{root: root},
		controller.LeaderElection(false), controller.Threadiness(4), controller.ResyncPeriod(time.Minute))
	go pc.Run(ctx)
	return nil
}

// --- CDI: DataVolumes ---------------------------------------------------------

// importer steps DataVolume imports: one goroutine per DataVolume (by UID)
// while its import runs.
type importer struct {
	sim  *kubevirtSim
	step time.Duration
	mu   sync.Mutex
	busy map[string]bool
}

func condition(typ, status, reason, message string) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now}
}

// dvSource is the URL a DataVolume imports from, and whether it is blank.
func dvSource(dv *unstructured.Unstructured) (string, bool) {
	src, _, _ := unstructured.NestedMap(dv.Object, "spec", "source")
	for _, kind := range []string{"http", "registry", "s3", "gcs"} {
		if m, ok := src[kind].(map[string]any); ok {
			url, _ := m["url"].(string)
			return url, false
		}
	}
	return "", true
}

// dvSize is the storage a DataVolume asks for (spec.storage, or the older spec.pvc).
func dvSize(dv *unstructured.Unstructured) string {
	for _, f := range []string{"storage", "pvc"} {
		if s, ok, _ := unstructured.NestedString(dv.Object, "spec", f, "resources", "requests", "storage"); ok {
			return s
		}
	}
	return "1Gi"
}

// syncDataVolume makes a DataVolume's claim and, once it is bound, starts its import.
func (im *importer) syncDataVolume(ctx context.Context, dv *unstructured.Unstructured, pvcs func(ns, name string) (*unstructured.Unstructured, bool)) error {
	if dv.GetDeletionTimestamp() != nil {
		return nil
	}
	phase, _, _ := unstructured.NestedString(dv.Object, "status", "phase")
	if phase == "Succeeded" || phase == "Failed" {
		return nil
	}
	ns, name := dv.GetNamespace(), dv.GetName()
	pvc, found := pvcs(ns, name)
	if !found {
		size := dvSize(dv)
		if _, err := resource.ParseQuantity(size); err != nil {
			return im.setStatus(ctx, dv, map[string]any{"phase": "Failed", "progress": "N/A",
				"conditions": []any{condition("Ready", "False", "Error", fmt.Sprintf("invalid storage size %q", size))}})
		}
		claim := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "PersistentVolumeClaim",
			"metadata": map[string]any{
				"name": name, "namespace": ns, "labels": toAny(dv.GetLabels()),
				"ownerReferences": []any{map[string]any{"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", "name": name, "uid": string(dv.GetUID()), "controller": true, "blockOwnerDeletion": true}},
			},
			"spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "resources": map[string]any{"requests": map[string]any{"storage": size}}},
		}}
		if sc, ok, _ := unstructured.NestedString(dv.Object, "spec", "storage", "storageClassName"); ok && sc != "" {
			_ = unstructured.SetNestedField(claim.Object, sc, "spec", "storageClassName")
		}
		if _, err := im.sim.client.Resource(pvcGVR).Namespace(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if phase == "" {
			return im.setStatus(ctx, dv, map[string]any{"phase": "Pending", "progress": "N/A", "claimName": name,
				"conditions": []any{condition("Bound", "False", "Pending", "PVC "+name+" Pending"), condition("Ready", "False", "", ""), condition("Running", "False", "", "")}})
		}
		return nil
	}
	if p, _, _ := unstructured.NestedString(pvc.Object, "status", "phase"); p != "Bound" {
		return nil // the PV controller binds it; the claim's update brings us back
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.busy[string(dv.GetUID())] {
		return nil
	}
	im.busy[string(dv.GetUID())] = true
	go im.run(ctx, ns, name, string(dv.GetUID()))
	return nil
}

// run plays one import: progress in steps of 10 %, or a failure after a few.
func (im *importer) run(ctx context.Context, ns, name, uid string) {
	defer func() {
		im.mu.Lock()
		delete(im.busy, uid)
		im.mu.Unlock()
	}()
	bound := condition("Bound", "True", "Bound", "PVC "+name+" Bound")
	for pct := 0; ; pct += 10 {
		dv, err := im.sim.client.Resource(dvGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || string(dv.GetUID()) != uid || dv.GetDeletionTimestamp() != nil {
			return
		}
		url, blank := dvSource(dv)
		var status map[string]any
		switch {
		case blank || pct >= 100:
			status = map[string]any{"phase": "Succeeded", "progress": "100.0%", "claimName": name,
				"conditions": []any{bound, condition("Ready", "True", "", ""), condition("Running", "False", "Completed", "Import Complete")}}
		case strings.Contains(url, "fail") && pct >= 30:
			msg := "Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found"
			if !strings.HasPrefix(url, "http") {
				msg = "Unable to process data: unable to fetch image from registry: manifest unknown"
			}
			status = map[string]any{"phase": "Failed", "progress": fmt.Sprintf("%d.00%%", pct-10), "claimName": name, "restartCount": int64(3),
				"conditions": []any{bound, condition("Ready", "False", "", ""), condition("Running", "False", "Error", msg)}}
		case pct == 0:
			status = map[string]any{"phase": "ImportScheduled", "progress": "N/A", "claimName": name,
				"conditions": []any{bound, condition("Ready", "False", "", ""), condition("Running", "False", "Pending", "Import pod scheduled")}}
		default:
			status = map[string]any{"phase": "ImportInProgress", "progress": fmt.Sprintf("%d.00%%", pct), "claimName": name,
				"conditions": []any{bound, condition("Ready", "False", "", ""), condition("Running", "True", "Pod is running", "")}}
		}
		if err := im.setStatus(ctx, dv, status); err != nil && !apierrors.IsConflict(err) {
			log.Printf("DataVolume %s/%s: %v", ns, name, err)
		}
		if p := status["phase"]; p == "Succeeded" || p == "Failed" {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(im.step):
		}
	}
}

func (im *importer) setStatus(ctx context.Context, dv *unstructured.Unstructured, status map[string]any) error {
	next := dv.DeepCopy()
	next.Object["status"] = status
	_, err := im.sim.client.Resource(dvGVR).Namespace(dv.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// --- virt-controller: a VM's DataVolumes ------------------------------------

// vmDataVolumes creates the DataVolumes of a VM's dataVolumeTemplates that do
// not exist, and says whether all of them have Succeeded (ready), and the
// printable status a VM waiting on them shows ("" when ready).
func (s *kubevirtSim) vmDataVolumes(ctx context.Context, vm *unstructured.Unstructured, dvs func(ns, name string) (*unstructured.Unstructured, bool)) (string, error) {
	templates, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
	waiting := ""
	for _, t := range templates {
		tm, _ := t.(map[string]any)
		meta, _ := tm["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		if name == "" {
			continue
		}
		dv, found := dvs(vm.GetNamespace(), name)
		if !found {
			m := map[string]any{
				"name": name, "namespace": vm.GetNamespace(),
				"ownerReferences": []any{map[string]any{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": vm.GetName(), "uid": string(vm.GetUID()), "controller": true, "blockOwnerDeletion": true}},
			}
			for _, k := range []string{"labels", "annotations"} {
				if v, ok := meta[k]; ok {
					m[k] = v
				}
			}
			obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", "metadata": m, "spec": tm["spec"]}}
			if _, err := s.client.Resource(dvGVR).Namespace(vm.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return "", err
			}
			waiting = "Provisioning"
			continue
		}
		switch phase, _, _ := unstructured.NestedString(dv.Object, "status", "phase"); phase {
		case "Succeeded":
		case "Failed":
			return "DataVolumeError", nil
		default:
			waiting = "Provisioning"
		}
	}
	return waiting, nil
}
