package main

// KubeVirt's VM snapshot and restore controllers (snapshot.kubevirt.io/v1beta1),
// simulated on top of the volume snapshots of snapshots.go.
//
// A VirtualMachineSnapshot of a VM takes one VolumeSnapshot per volume backed
// by a bound claim (dataVolume and persistentVolumeClaim volumes), named
// `vmsnapshot-<snapshot uid>-volume-<volume name>` and owned by the
// VirtualMachineSnapshot, and is Succeeded and readyToUse once they all are,
// with status.snapshotVolumes listing the volumes it includes and excludes.
// Until then it is InProgress; the snapshot of a missing VM stays InProgress
// with Progressing False "Source does not exist". No VirtualMachineSnapshotContent
// is made (status.virtualMachineSnapshotContentName names the one KubeVirt would).
//
// A VirtualMachineRestore of an existing VM waits while the VM runs (or its
// VMI still exists): Ready and Progressing False, reason "VM must be stopped".
// Once it is stopped, each included volume gets a new claim
// `restore-<restore uid>-<volume name>` made from its VolumeSnapshot; a volume
// of one of the VM's dataVolumeTemplates gets a DataVolume of that name which
// adopts the claim (cdi.kubevirt.io/storage.populatedFor). The VM's template
// volumes and dataVolumeTemplates are pointed at the new names, the old
// DataVolumes deleted (status.deletedDataVolumes), and the restore is complete.

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

const (
	restoreNameAnnotation       = "restore.kubevirt.io/name"
	lastRestoreAnnotation       = "restore.kubevirt.io/lastRestoreUID"
	restoreSourceNameLabel      = "restore.kubevirt.io/source-vm-name"
	restoreSourceNamespaceLabel = "restore.kubevirt.io/source-vm-namespace"
	vmMustBeStopped             = "VM must be stopped"
)

var snapshotIndicationMessages = map[string]string{
	"Online":       "Snapshot taken while the VM was running. Consistency depends on guest-agent quiescing.",
	"NoGuestAgent": "Guest agent was not available. Snapshot is crash-consistent and may not be application-consistent.",
}

// snapshotCondition: KubeVirt's snapshot and restore conditions have a
// reason and no message.
func snapshotCondition(conds []any, typ, status, reason string) []any {
	return withCondition(conds, typ, status, reason, "", map[string]any{"lastProbeTime": nil})
}

// claimVolume is a VM volume backed by a claim: its name and claim.
type claimVolume struct {
	volume, claim string
	dataVolume    bool // a dataVolume volume (else persistentVolumeClaim)
}

// claimVolumes: the VM's volumes in the order of its spec, and the names of
// those not backed by a claim.
func claimVolumes(vm *unstructured.Unstructured) (withClaims []claimVolume, others []string) {
	volumes, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "volumes")
	for _, v := range volumes {
		m, _ := v.(map[string]any)
		name, _, _ := unstructured.NestedString(m, "name")
		if dv, _, _ := unstructured.NestedString(m, "dataVolume", "name"); dv != "" {
			withClaims = append(withClaims, claimVolume{volume: name, claim: dv, dataVolume: true})
		} else if pvc, _, _ := unstructured.NestedString(m, "persistentVolumeClaim", "claimName"); pvc != "" {
			withClaims = append(withClaims, claimVolume{volume: name, claim: pvc})
		} else {
			others = append(others, name)
		}
	}
	return withClaims, others
}

func volumeSnapshotName(snap metav1.Object, volume string) string {
	return fmt.Sprintf("vmsnapshot-%s-volume-%s", snap.GetUID(), volume)
}

func (s *kubevirtSim) syncVMSnapshot(ctx context.Context, key string) (time.Duration, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	snap := get(s.vmSnaps, ns, name)
	if snap == nil || snap.GetDeletionTimestamp() != nil || str(snap, "status", "phase") == "Succeeded" {
		return 0, nil
	}
	before, _, _ := unstructured.NestedMap(snap.Object, "status")
	status := deepCopyMap(before)
	if status == nil {
		status = map[string]any{}
	}
	conds, _, _ := unstructured.NestedSlice(snap.Object, "status", "conditions")
	status["readyToUse"] = false
	status["phase"] = "InProgress"
	write := func() (time.Duration, error) {
		status["conditions"] = conds
		wrote, err := s.replaceStatus(ctx, vmSnapshotGVR, snap, before, status)
		if wrote && before["phase"] != status["phase"] {
			log.Printf("VirtualMachineSnapshot %s/%s: %v", ns, name, status["phase"])
		}
		return 0, err
	}
	var vm *unstructured.Unstructured
	if str(snap, "spec", "source", "kind") == "VirtualMachine" {
		vm = get(s.vms, ns, str(snap, "spec", "source", "name"))
	}
	if vm == nil {
		conds = snapshotCondition(conds, "Progressing", "False", "Source does not exist")
		conds = snapshotCondition(conds, "Ready", "False", "Not ready")
		return write()
	}
	status["sourceUID"] = string(vm.GetUID())
	status["virtualMachineSnapshotContentName"] = "vmsnapshot-content-" + string(snap.GetUID())

	// One VolumeSnapshot per volume with a bound claim that has a snapshot class.
	withClaims, others := claimVolumes(vm)
	var included, excluded []string
	ready, failure := true, ""
	for _, cv := range withClaims {
		vsName := volumeSnapshotName(snap, cv.volume)
		vs := get(s.vss, ns, vsName)
		if vs == nil {
			pvc, err := s.pvcs.PersistentVolumeClaims(ns).Get(cv.claim)
			if err != nil || pvc.Status.Phase != v1.ClaimBound {
				excluded = append(excluded, cv.volume)
				continue
			}
			class := s.snapshotClassForClaim(pvc)
			if class == "" {
				excluded = append(excluded, cv.volume)
				continue
			}
			if err := s.createVolumeSnapshot(ctx, snap, vsName, cv.claim, class); err != nil {
				return 0, err
			}
			included = append(included, cv.volume)
			ready = false
			continue
		}
		included = append(included, cv.volume)
		if r, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse"); !r {
			ready = false
		}
		if msg := str(vs, "status", "error", "message"); msg != "" && failure == "" {
			failure = msg
		}
	}
	excluded = append(excluded, others...)
	if vmi := get(s.vmis, ns, vm.GetName()); vmi != nil {
		status["indications"] = []any{"NoGuestAgent", "Online"}
		status["sourceIndications"] = []any{
			map[string]any{"indication": "NoGuestAgent", "message": snapshotIndicationMessages["NoGuestAgent"]},
			map[string]any{"indication": "Online", "message": snapshotIndicationMessages["Online"]},
		}
	}
	if failure != "" {
		status["error"] = map[string]any{"message": failure, "time": now()}
		conds = snapshotCondition(conds, "Progressing", "False", "In error state")
		conds = snapshotCondition(conds, "Ready", "False", "Not ready")
		return write()
	}
	delete(status, "error")
	if !ready {
		conds = snapshotCondition(conds, "Progressing", "True", "Source locked and operation in progress")
		conds = snapshotCondition(conds, "Ready", "False", "Not ready")
		return write()
	}
	status["phase"] = "Succeeded"
	status["readyToUse"] = true
	status["creationTime"] = now()
	lists := map[string]any{}
	if len(included) > 0 {
		lists["includedVolumes"] = toAny(included)
	}
	if len(excluded) > 0 {
		lists["excludedVolumes"] = toAny(excluded)
	}
	status["snapshotVolumes"] = lists
	conds = snapshotCondition(conds, "Progressing", "False", "Operation complete")
	conds = snapshotCondition(conds, "Ready", "True", "Ready")
	return write()
}

func toAny(list []string) []any {
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

func (s *kubevirtSim) createVolumeSnapshot(ctx context.Context, snap *unstructured.Unstructured, name, claim, class string) error {
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1",
		"kind":       "VolumeSnapshot",
		"metadata": map[string]any{
			"name": name, "namespace": snap.GetNamespace(),
			"ownerReferences": []any{map[string]any{
				"apiVersion": "snapshot.kubevirt.io/v1beta1", "kind": "VirtualMachineSnapshot",
				"name": snap.GetName(), "uid": string(snap.GetUID()), "controller": true, "blockOwnerDeletion": true,
			}},
		},
		"spec": map[string]any{
			"source":                  map[string]any{"persistentVolumeClaimName": claim},
			"volumeSnapshotClassName": class,
		},
	}}
	_, err := s.client.Resource(volumeSnapshotGVR).Namespace(snap.GetNamespace()).Create(ctx, vs, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// --- restore -------------------------------------------------------------

func restoreClaimName(r metav1.Object, volume string) string {
	return fmt.Sprintf("restore-%s-%s", r.GetUID(), volume)
}

func (s *kubevirtSim) syncVMRestore(ctx context.Context, key string) (time.Duration, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	r := get(s.vmRestores, ns, name)
	if r == nil || r.GetDeletionTimestamp() != nil {
		return 0, nil
	}
	if done, _, _ := unstructured.NestedBool(r.Object, "status", "complete"); done {
		return 0, nil
	}
	before, _, _ := unstructured.NestedMap(r.Object, "status")
	status := deepCopyMap(before)
	if status == nil {
		status = map[string]any{}
	}
	conds, _, _ := unstructured.NestedSlice(r.Object, "status", "conditions")
	both := func(progressing, reason, ready, readyReason string) {
		conds = snapshotCondition(conds, "Progressing", progressing, reason)
		conds = snapshotCondition(conds, "Ready", ready, readyReason)
	}
	write := func() (time.Duration, error) {
		status["conditions"] = conds
		_, err := s.replaceStatus(ctx, vmRestoreGVR, r, before, status)
		return 0, err
	}
	if _, ok := status["complete"]; !ok {
		status["complete"] = false
		both("True", "Initializing VirtualMachineRestore", "False", "Initializing VirtualMachineRestore")
		return write()
	}
	stop := func(reason string) (time.Duration, error) {
		both("False", reason, "False", reason)
		return write()
	}
	var vm *unstructured.Unstructured
	if str(r, "spec", "target", "kind") == "VirtualMachine" {
		vm = get(s.vms, ns, str(r, "spec", "target", "name"))
	}
	if vm == nil {
		return stop(fmt.Sprintf("VirtualMachine %s/%s does not exist (restoring to a new VM is not simulated)", ns, str(r, "spec", "target", "name")))
	}
	if len(r.GetOwnerReferences()) == 0 {
		// As KubeVirt, the restore belongs to its target.
		updated := r.DeepCopy()
		updated.Object["metadata"].(map[string]any)["ownerReferences"] = []any{vmOwnerRef(vm)}
		_, err := s.client.Resource(vmRestoreGVR).Namespace(ns).Update(ctx, updated, metav1.UpdateOptions{})
		return 0, err
	}
	strategy := str(vm, "spec", "runStrategy")
	if runningStrategies[strategy] || get(s.vmis, ns, vm.GetName()) != nil {
		return stop(vmMustBeStopped)
	}
	snapName := str(r, "spec", "virtualMachineSnapshotName")
	snap := get(s.vmSnaps, ns, snapName)
	switch {
	case snap == nil:
		return stop(fmt.Sprintf("VMSnapshot %s/%s does not exist", ns, snapName))
	case str(snap, "status", "phase") == "Failed":
		return stop(fmt.Sprintf("VMSnapshot %s/%s failed and is invalid to use", ns, snapName))
	}
	if ok, _, _ := unstructured.NestedBool(snap.Object, "status", "readyToUse"); !ok {
		return stop(fmt.Sprintf("VMSnapshot %s/%s not ready", ns, snapName))
	}

	// 1. What is restored: each volume the snapshot includes.
	included, _, _ := unstructured.NestedStringSlice(snap.Object, "status", "snapshotVolumes", "includedVolumes")
	oldRestores, _, _ := unstructured.NestedSlice(r.Object, "status", "restores")
	restores := make([]any, 0, len(included))
	for _, vol := range included {
		entry := map[string]any{
			"volumeName":            vol,
			"persistentVolumeClaim": restoreClaimName(r, vol),
			"volumeSnapshotName":    volumeSnapshotName(snap, vol),
		}
		for _, o := range oldRestores {
			if m, ok := o.(map[string]any); ok && m["volumeName"] == vol && m["dataVolumeName"] != nil {
				entry["dataVolumeName"] = m["dataVolumeName"]
			}
		}
		restores = append(restores, entry)
	}
	if !equalJSON(oldRestores, restores) && len(restores) > 0 {
		status["restores"] = restores
		both("True", "Creating new PVCs", "False", "Waiting for new PVCs")
		return write()
	}

	// 2. The new claims, from the volume snapshots.
	templates, _, _ := unstructured.NestedSlice(vm.Object, "spec", "dataVolumeTemplates")
	volumes, _, _ := unstructured.NestedSlice(vm.Object, "spec", "template", "spec", "volumes")
	templateOf := func(volume string) int { // index of the template backing a volume, or -1
		for _, v := range volumes {
			m, _ := v.(map[string]any)
			if m["name"] != volume {
				continue
			}
			dv, _, _ := unstructured.NestedString(m, "dataVolume", "name")
			for i, t := range templates {
				if dv != "" && templateName(t) == dv {
					return i
				}
			}
		}
		return -1
	}
	waiting := false
	for _, e := range restores {
		m := e.(map[string]any)
		vol, claim := m["volumeName"].(string), m["persistentVolumeClaim"].(string)
		pvc, err := s.pvcs.PersistentVolumeClaims(ns).Get(claim)
		if apierrors.IsNotFound(err) {
			if err := s.createRestoreClaim(ctx, r, vm, snap, vol, claim, templateOf(vol) >= 0); err != nil {
				return stop(err.Error())
			}
			waiting = true
			continue
		}
		if err != nil {
			return 0, err
		}
		if pvc.Status.Phase != v1.ClaimBound {
			waiting = true
		}
	}
	if waiting {
		both("True", "Creating new PVCs", "False", "Waiting for new PVCs")
		return write()
	}

	// 3. Point the VM at them: renamed DataVolume templates (their
	// DataVolumes adopt the new claims), claims of the other volumes.
	marker := fmt.Sprintf("%s-%s", r.GetName(), r.GetUID())
	if vm.GetAnnotations()[lastRestoreAnnotation] != marker {
		newTemplates := make([]any, len(templates))
		copy(newTemplates, templates)
		newVolumes := make([]any, len(volumes))
		copy(newVolumes, volumes)
		dvWaiting := false
		for _, e := range restores {
			m := e.(map[string]any)
			vol, claim := m["volumeName"].(string), m["persistentVolumeClaim"].(string)
			for i, v := range newVolumes {
				vm0, _ := v.(map[string]any)
				if vm0["name"] != vol {
					continue
				}
				nv := deepCopyMap(vm0)
				if t := templateOf(vol); t >= 0 {
					tmpl := deepCopyMap(templates[t].(map[string]any))
					_ = unstructured.SetNestedField(tmpl, claim, "metadata", "name")
					newTemplates[t] = tmpl
					_ = unstructured.SetNestedField(nv, claim, "dataVolume", "name")
					m["dataVolumeName"] = claim
					switch dv := get(s.dvs, ns, claim); {
					case dv == nil:
						_, err := s.client.Resource(dataVolumeGVR).Namespace(ns).Create(ctx, dataVolumeFromTemplate(vm, tmpl), metav1.CreateOptions{})
						if err != nil && !apierrors.IsAlreadyExists(err) {
							return 0, err
						}
						dvWaiting = true
					case str(dv, "status", "phase") != "Succeeded":
						dvWaiting = true
					}
				} else {
					delete(nv, "dataVolume")
					nv["persistentVolumeClaim"] = map[string]any{"claimName": claim}
				}
				newVolumes[i] = nv
			}
		}
		status["restores"] = restores
		if dvWaiting {
			both("True", "Updating target spec", "False", "Waiting for target update")
			return write()
		}
		var deleted []string
		for _, t := range templates {
			if n := templateName(t); !slices.ContainsFunc(newTemplates, func(x any) bool { return templateName(x) == n }) {
				deleted = append(deleted, n)
			}
		}
		// The DataVolumes to delete are recorded before the VM is pointed
		// away from them: once it is, they can no longer be told from its
		// templates, and a status write lost after the VM's update (a
		// conflict with a stale copy of the restore) would forget them.
		if len(deleted) > 0 && !equalJSON(status["deletedDataVolumes"], toAny(deleted)) {
			status["deletedDataVolumes"] = toAny(deleted)
			both("True", "Updating target spec", "False", "Waiting for target update")
			return write()
		}
		updated := vm.DeepCopy()
		if len(templates) > 0 {
			_ = unstructured.SetNestedSlice(updated.Object, newTemplates, "spec", "dataVolumeTemplates")
		}
		_ = unstructured.SetNestedSlice(updated.Object, newVolumes, "spec", "template", "spec", "volumes")
		annotations := updated.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[lastRestoreAnnotation] = marker
		updated.SetAnnotations(annotations)
		if _, err := s.client.Resource(vmGVR).Namespace(ns).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return 0, err
		}
		log.Printf("VirtualMachineRestore %s/%s: VM %s points at the restored volumes", ns, name, vm.GetName())
		both("True", "Updating target spec", "False", "Waiting for target update")
		return write()
	}

	// 4. The replaced DataVolumes go (and their claims with them).
	deleted, _, _ := unstructured.NestedStringSlice(r.Object, "status", "deletedDataVolumes")
	for _, dv := range deleted {
		if get(s.dvs, ns, dv) == nil {
			continue
		}
		err := s.client.Resource(dataVolumeGVR).Namespace(ns).Delete(ctx, dv, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
	}
	status["complete"] = true
	status["restoreTime"] = now()
	both("False", "Operation complete", "True", "Operation complete")
	after, err := write()
	if err == nil {
		log.Printf("VirtualMachineRestore %s/%s complete", ns, name)
	}
	return after, err
}

// createRestoreClaim makes the claim of one restored volume from its
// VolumeSnapshot as KubeVirt does: the original claim's labels, annotations
// (without the storage controllers' own) and spec, at least the snapshot's
// restoreSize, the snapshot as dataSource. A claim for a DataVolume is marked
// for it to adopt; another is owned by the VM.
func (s *kubevirtSim) createRestoreClaim(ctx context.Context, r, vm, snap *unstructured.Unstructured, volume, name string, forDataVolume bool) error {
	ns := r.GetNamespace()
	vsName := volumeSnapshotName(snap, volume)
	vs := get(s.vss, ns, vsName)
	if vs == nil {
		return fmt.Errorf("missing volumeSnapshot %s", vsName)
	}
	labels := map[string]string{}
	annotations := map[string]string{}
	spec := v1.PersistentVolumeClaimSpec{AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}, Resources: v1.VolumeResourceRequirements{Requests: v1.ResourceList{}}}
	if orig, err := s.pvcs.PersistentVolumeClaims(ns).Get(str(vs, "spec", "source", "persistentVolumeClaimName")); err == nil {
		for k, v := range orig.Labels {
			labels[k] = v
		}
		for k, v := range orig.Annotations {
			if !slices.ContainsFunc([]string{"pv.kubernetes.io", "volume.beta.kubernetes.io", "cdi.kubevirt.io", "volume.kubernetes.io", "k8s.io/CloneRequest", "k8s.io/CloneOf"}, func(p string) bool { return strings.HasPrefix(k, p) }) {
				annotations[k] = v
			}
		}
		spec.AccessModes = orig.Spec.AccessModes
		spec.Resources = *orig.Spec.Resources.DeepCopy()
		spec.StorageClassName = orig.Spec.StorageClassName
		spec.VolumeMode = orig.Spec.VolumeMode
	} else if c := s.defaultStorageClass(); c != "" {
		spec.StorageClassName = &c
	}
	if raw := str(vs, "status", "restoreSize"); raw != "" {
		if size, err := resource.ParseQuantity(raw); err == nil {
			if cur, ok := spec.Resources.Requests[v1.ResourceStorage]; !ok || cur.Cmp(size) < 0 {
				spec.Resources.Requests[v1.ResourceStorage] = size
			}
		}
	}
	group := snapshotGroup
	spec.DataSource = &v1.TypedLocalObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: vsName}
	spec.DataSourceRef = &v1.TypedObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: vsName}
	labels[restoreSourceNameLabel] = vm.GetName()
	labels[restoreSourceNamespaceLabel] = ns
	annotations[restoreNameAnnotation] = r.GetName()
	annotations[lastRestoreAnnotation] = fmt.Sprintf("%s-%s", r.GetName(), r.GetUID())
	pvc := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations},
		Spec:       spec,
	}
	if forDataVolume {
		pvc.Annotations[populatedForAnnotation] = name
	} else {
		t := true
		pvc.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine", Name: vm.GetName(), UID: vm.GetUID(), Controller: &t, BlockOwnerDeletion: &t}}
	}
	_, err := s.kube.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil {
		log.Printf("VirtualMachineRestore %s/%s: claim %s from %s", ns, r.GetName(), name, vsName)
	}
	return err
}
