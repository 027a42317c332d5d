package main

// Volume snapshots, as the CSI snapshot-controller and the csi-snapshotter
// sidecar of a driver handle them (snapshot.storage.k8s.io/v1, the published
// CRDs): a VolumeSnapshot of a bound claim gets a VolumeSnapshotContent
// `snapcontent-<snapshot uid>` bound to it both ways (driver
// kubekloud.io/kkplane-local, a made-up snapshotHandle), its class (the
// default VolumeSnapshotClass of the claim's provisioner when the snapshot
// names none), and once --snapshot-delay has passed since the snapshot was
// made, readyToUse with the claim's size as restoreSize. The "snapshot" is a
// copy of the volume's directory, which the provisioner copies back into a
// claim restored from it. A snapshot of a claim that is missing or not bound
// keeps readyToUse false with status.error, and is retried. A content whose
// snapshot is gone is deleted with its copy (deletionPolicy Delete) or left
// (Retain). No finalizers are set.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

const defaultSnapshotClassAnnotation = "snapshot.storage.kubernetes.io/is-default-class"

// snapshotRetry: how soon a snapshot that cannot be taken yet is tried again.
const snapshotRetry = time.Second

func contentNameFor(vs metav1.Object) string { return "snapcontent-" + string(vs.GetUID()) }

// defaultSnapshotClass: the VolumeSnapshotClass for a driver, as the
// snapshot-controller picks it (the one marked default).
func (s *kubevirtSim) defaultSnapshotClass(driver string) string {
	objs, err := s.vsClasses.List(everything)
	if err != nil {
		return ""
	}
	for _, o := range objs {
		c := o.(*unstructured.Unstructured)
		if str(c, "driver") == driver && c.GetAnnotations()[defaultSnapshotClassAnnotation] == "true" {
			return c.GetName()
		}
	}
	return ""
}

// snapshotClassForClaim: the snapshot class of a claim's provisioner.
func (s *kubevirtSim) snapshotClassForClaim(pvc *v1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName == nil {
		return ""
	}
	sc, err := s.classes.Get(*pvc.Spec.StorageClassName)
	if err != nil {
		return ""
	}
	return s.defaultSnapshotClass(sc.Provisioner)
}

func (s *kubevirtSim) syncVolumeSnapshot(ctx context.Context, key string) (time.Duration, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	vs := get(s.vss, ns, name)
	if vs == nil || vs.GetDeletionTimestamp() != nil {
		return 0, nil
	}
	if ready, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse"); ready {
		return 0, nil
	}
	pvcName := str(vs, "spec", "source", "persistentVolumeClaimName")
	if pvcName == "" {
		return 0, s.bindPreProvisioned(ctx, vs)
	}
	contentName := contentNameFor(vs)
	content := get(s.vscs, "", contentName)
	if content == nil {
		return s.takeSnapshot(ctx, vs, pvcName)
	}
	if str(content, "spec", "driver") != provisionerName {
		return 0, nil
	}
	if ready, _, _ := unstructured.NestedBool(content.Object, "status", "readyToUse"); !ready {
		if wait := s.snapshotDelay - time.Since(vs.GetCreationTimestamp().Time); wait > 0 {
			return wait, s.reportSnapshot(ctx, vs, content)
		}
		updated := content.DeepCopy()
		_ = unstructured.SetNestedField(updated.Object, true, "status", "readyToUse")
		_, err := s.client.Resource(volumeSnapshotContentGVR).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		return 0, err // the content's update brings the snapshot back here
	}
	return 0, s.reportSnapshot(ctx, vs, content)
}

// takeSnapshot checks what the snapshot-controller checks, copies the volume
// and creates the content with the status the sidecar gives it.
func (s *kubevirtSim) takeSnapshot(ctx context.Context, vs *unstructured.Unstructured, pvcName string) (time.Duration, error) {
	ns := vs.GetNamespace()
	fail := func(cause error) (time.Duration, error) {
		inputs := fmt.Errorf("failed to get input parameters to create snapshot %s: %q", vs.GetName(), cause)
		return snapshotRetry, s.snapshotError(ctx, vs, "Failed to create snapshot content with error "+inputs.Error())
	}
	pvc, err := s.pvcs.PersistentVolumeClaims(ns).Get(pvcName)
	if err != nil {
		return fail(fmt.Errorf("failed to retrieve PVC %s from the lister: %q", pvcName, err))
	}
	if pvc.Status.Phase != v1.ClaimBound || pvc.Spec.VolumeName == "" {
		return fail(fmt.Errorf("the PVC %s is not yet bound to a PV, will not attempt to take a snapshot", pvc.Name))
	}
	pv, err := s.pvs.Get(pvc.Spec.VolumeName)
	if err != nil {
		return fail(fmt.Errorf("failed to retrieve PV %s from the API server: %q", pvc.Spec.VolumeName, err))
	}
	className := str(vs, "spec", "volumeSnapshotClassName")
	if className == "" {
		className = s.snapshotClassForClaim(pvc)
		if className == "" {
			return fail(errors.New("cannot find default snapshot class"))
		}
		// As the snapshot-controller, write the chosen class into the spec.
		patch := fmt.Sprintf(`{"spec":{"volumeSnapshotClassName":%q}}`, className)
		_, err := s.client.Resource(volumeSnapshotGVR).Namespace(ns).Patch(ctx, vs.GetName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return 0, err
	}
	class := get(s.vsClasses, "", className)
	if class == nil {
		return fail(fmt.Errorf("failed to retrieve snapshot class %s from the informer: %q", className,
			fmt.Errorf("volumesnapshotclass.snapshot.storage.k8s.io %q not found", className)))
	}
	if str(class, "driver") != provisionerName {
		return 0, nil // another driver's snapshot: nobody here takes it
	}
	handle := "kksnap-" + string(vs.GetUID())
	if pv.Spec.HostPath != nil && filepath.Dir(pv.Spec.HostPath.Path) == s.volumeDir {
		if err := copyDir(pv.Spec.HostPath.Path, s.snapshotPath(handle)); err != nil {
			return 0, fmt.Errorf("copying volume %s: %w", pv.Name, err)
		}
	}
	volumeMode := string(v1.PersistentVolumeFilesystem)
	if pvc.Spec.VolumeMode != nil {
		volumeMode = string(*pvc.Spec.VolumeMode)
	}
	deletionPolicy := str(class, "deletionPolicy")
	content := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1",
		"kind":       "VolumeSnapshotContent",
		"metadata":   map[string]any{"name": contentNameFor(vs)},
		"spec": map[string]any{
			"volumeSnapshotRef": map[string]any{
				"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
				"name": vs.GetName(), "namespace": ns, "uid": string(vs.GetUID()), "resourceVersion": vs.GetResourceVersion(),
			},
			"source":                  map[string]any{"volumeHandle": pv.Name},
			"volumeSnapshotClassName": className,
			"deletionPolicy":          deletionPolicy,
			"driver":                  provisionerName,
			"sourceVolumeMode":        volumeMode,
		},
	}}
	created, err := s.client.Resource(volumeSnapshotContentGVR).Create(ctx, content, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	size := pvc.Status.Capacity[v1.ResourceStorage]
	if size.IsZero() {
		size = pvc.Spec.Resources.Requests[v1.ResourceStorage]
	}
	created.Object["status"] = map[string]any{
		"snapshotHandle": handle,
		"creationTime":   time.Now().UnixNano(),
		"restoreSize":    size.Value(),
		"readyToUse":     false,
	}
	if _, err := s.client.Resource(volumeSnapshotContentGVR).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return 0, err
	}
	log.Printf("VolumeSnapshot %s/%s of claim %s: content %s", ns, vs.GetName(), pvc.Name, created.GetName())
	return 0, nil
}

// reportSnapshot mirrors the content's status in the snapshot's.
func (s *kubevirtSim) reportSnapshot(ctx context.Context, vs, content *unstructured.Unstructured) error {
	before, _, _ := unstructured.NestedMap(vs.Object, "status")
	status := map[string]any{"boundVolumeSnapshotContentName": content.GetName()}
	ready, _, _ := unstructured.NestedBool(content.Object, "status", "readyToUse")
	status["readyToUse"] = ready
	if t, ok, _ := unstructured.NestedInt64(content.Object, "status", "creationTime"); ok {
		status["creationTime"] = time.Unix(0, t).UTC().Format(time.RFC3339)
	}
	if n, ok, _ := unstructured.NestedInt64(content.Object, "status", "restoreSize"); ok {
		status["restoreSize"] = resource.NewQuantity(n, resource.BinarySI).String()
	}
	wrote, err := s.replaceStatus(ctx, volumeSnapshotGVR, vs, before, status)
	if wrote && ready {
		log.Printf("VolumeSnapshot %s/%s ready to use", vs.GetNamespace(), vs.GetName())
	}
	return err
}

func (s *kubevirtSim) snapshotError(ctx context.Context, vs *unstructured.Unstructured, message string) error {
	if str(vs, "status", "error", "message") == message {
		return nil
	}
	updated := vs.DeepCopy()
	_ = unstructured.SetNestedField(updated.Object, false, "status", "readyToUse")
	_ = unstructured.SetNestedMap(updated.Object, map[string]any{"message": message, "time": now()}, "status", "error")
	_, err := s.client.Resource(volumeSnapshotGVR).Namespace(vs.GetNamespace()).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// bindPreProvisioned: a snapshot of an existing content
// (spec.source.volumeSnapshotContentName) shows that content's status.
func (s *kubevirtSim) bindPreProvisioned(ctx context.Context, vs *unstructured.Unstructured) error {
	name := str(vs, "spec", "source", "volumeSnapshotContentName")
	if name == "" {
		return nil
	}
	content := get(s.vscs, "", name)
	if content == nil {
		return s.snapshotError(ctx, vs, fmt.Sprintf("VolumeSnapshotContent %s is missing", name))
	}
	return s.reportSnapshot(ctx, vs, content)
}

// syncVolumeSnapshotContent deletes a dynamically made content of this
// driver whose snapshot is gone, with the copy, when its policy says Delete.
func (s *kubevirtSim) syncVolumeSnapshotContent(ctx context.Context, name string) (time.Duration, error) {
	content := get(s.vscs, "", name)
	if content == nil || content.GetDeletionTimestamp() != nil || str(content, "spec", "driver") != provisionerName {
		return 0, nil
	}
	if str(content, "spec", "source", "volumeHandle") == "" {
		return 0, nil // pre-provisioned: not ours to delete
	}
	ns, vsName, uid := str(content, "spec", "volumeSnapshotRef", "namespace"), str(content, "spec", "volumeSnapshotRef", "name"), str(content, "spec", "volumeSnapshotRef", "uid")
	if vs := get(s.vss, ns, vsName); vs != nil && (uid == "" || string(vs.GetUID()) == uid) {
		return 0, nil
	}
	if str(content, "spec", "deletionPolicy") != "Delete" {
		return 0, nil
	}
	if handle := str(content, "status", "snapshotHandle"); handle != "" {
		if err := os.RemoveAll(s.snapshotPath(handle)); err != nil {
			return 0, err
		}
	}
	err := s.client.Resource(volumeSnapshotContentGVR).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(content.GetUID())}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return 0, nil
	}
	if err == nil {
		log.Printf("VolumeSnapshotContent %s deleted with its snapshot %s/%s", name, ns, vsName)
	}
	return 0, err
}
