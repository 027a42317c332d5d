package main

// The plane's dynamic volume provisioner, `kubekloud.io/kkplane-local`, built
// on sigs.k8s.io/sig-storage-lib-external-provisioner as an out-of-tree
// provisioner is: kube-controller-manager's PV controller marks a claim of a
// StorageClass with this provisioner (annotation
// volume.kubernetes.io/storage-provisioner), the library's controller calls
// Provision, stores the PersistentVolume it returns, and the PV controller
// binds the two. On a Delete reclaim the library calls Delete and removes the
// PV. The volumes are directories under --volume-dir (hostPath PVs; nothing
// ever mounts them). A claim whose dataSource is a VolumeSnapshot starts as a
// copy of the snapshot's directory, as a CSI driver restores a snapshot.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const (
	provisionerName = "kubekloud.io/kkplane-local"
	snapshotGroup   = "snapshot.storage.k8s.io"
)

type localProvisioner struct {
	sim *kubevirtSim
}

// volumePath is the directory of one PV; snapshotPath that of one snapshot.
func (s *kubevirtSim) volumePath(pvName string) string {
	return filepath.Join(s.volumeDir, pvName)
}

func (s *kubevirtSim) snapshotPath(handle string) string {
	return filepath.Join(s.volumeDir, "snapshots", handle)
}

func (p *localProvisioner) Provision(ctx context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	claim := opts.PVC
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == v1.PersistentVolumeBlock {
		return nil, controller.ProvisioningFinished, errors.New("volumeMode Block is not supported by kubekloud.io/kkplane-local")
	}
	size, ok := claim.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		return nil, controller.ProvisioningFinished, errors.New("the claim requests no storage size")
	}
	// A claim restored from a snapshot gets the snapshot's data, and must be
	// at least as large as the snapshot's restoreSize.
	var from string
	if src := claim.Spec.DataSource; src != nil {
		if src.Kind != "VolumeSnapshot" || src.APIGroup == nil || *src.APIGroup != snapshotGroup {
			return nil, controller.ProvisioningFinished, fmt.Errorf("data source %s %q is not supported by kubekloud.io/kkplane-local (only VolumeSnapshots)", src.Kind, src.Name)
		}
		dir, restoreSize, err := p.sim.snapshotSource(ctx, claim.Namespace, src.Name)
		if err != nil {
			return nil, controller.ProvisioningNoChange, fmt.Errorf("error getting handle for DataSource Type VolumeSnapshot by Name %s: %w", src.Name, err)
		}
		if restoreSize != nil && size.Cmp(*restoreSize) < 0 {
			return nil, controller.ProvisioningFinished, fmt.Errorf("requested volume size %d is less than the size %d for the source snapshot %s", size.Value(), restoreSize.Value(), src.Name)
		}
		from = dir
	}
	dir := p.sim.volumePath(opts.PVName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, controller.ProvisioningNoChange, err
	}
	if from != "" {
		if err := copyDir(from, dir); err != nil {
			return nil, controller.ProvisioningNoChange, fmt.Errorf("restoring snapshot data: %w", err)
		}
	}
	reclaim := v1.PersistentVolumeReclaimDelete
	if opts.StorageClass.ReclaimPolicy != nil {
		reclaim = *opts.StorageClass.ReclaimPolicy
	}
	hostPathType := v1.HostPathDirectory
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			MountOptions:                  opts.StorageClass.MountOptions,
			VolumeMode:                    claim.Spec.VolumeMode,
			PersistentVolumeSource: v1.PersistentVolumeSource{
				HostPath: &v1.HostPathVolumeSource{Path: dir, Type: &hostPathType},
			},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

// Delete removes the PV's directory; PVs of other directories are not ours.
func (p *localProvisioner) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	if pv.Spec.HostPath == nil || filepath.Dir(pv.Spec.HostPath.Path) != filepath.Clean(p.sim.volumeDir) {
		return &controller.IgnoredError{Reason: "the volume is not a directory of this plane's provisioner"}
	}
	return os.RemoveAll(pv.Spec.HostPath.Path)
}

// snapshotSource is the directory and restoreSize of a VolumeSnapshot that is
// ready to use, as the CSI external-provisioner requires before restoring one.
func (s *kubevirtSim) snapshotSource(ctx context.Context, ns, name string) (string, *resource.Quantity, error) {
	vs, err := s.client.Resource(volumeSnapshotGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", nil, err
	}
	if ready, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse"); !ready {
		return "", nil, fmt.Errorf("snapshot %s is not Ready", name)
	}
	contentName, _, _ := unstructured.NestedString(vs.Object, "status", "boundVolumeSnapshotContentName")
	content, err := s.client.Resource(volumeSnapshotContentGVR).Get(ctx, contentName, metav1.GetOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("the content %q of snapshot %s: %w", contentName, name, err)
	}
	handle, _, _ := unstructured.NestedString(content.Object, "status", "snapshotHandle")
	if handle == "" {
		return "", nil, fmt.Errorf("the content %s of snapshot %s has no snapshotHandle", contentName, name)
	}
	var size *resource.Quantity
	if raw, ok, _ := unstructured.NestedFieldNoCopy(vs.Object, "status", "restoreSize"); ok {
		if q, err := resource.ParseQuantity(fmt.Sprint(raw)); err == nil {
			size = &q
		}
	}
	return s.snapshotPath(handle), size, nil
}

// copyDir copies the regular files and directories under from into to.
func copyDir(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// newProvisioner is the library's controller on the plane's shared
// informers, without leader election (one stand-in per plane) and with retries
// measured in seconds rather than the library's 15 s first backoff.
func (s *kubevirtSim) newProvisioner(ctx context.Context, kf informers.SharedInformerFactory) *controller.ProvisionController {
	return controller.NewProvisionController(ctx, s.kube, provisionerName, &localProvisioner{sim: s},
		controller.LeaderElection(false),
		controller.ClaimsInformer(kf.Core().V1().PersistentVolumeClaims().Informer()),
		controller.VolumesInformer(kf.Core().V1().PersistentVolumes().Informer()),
		controller.ClassesInformer(kf.Storage().V1().StorageClasses().Informer()),
		controller.RateLimiter(workqueue.NewTypedItemExponentialFailureRateLimiter[string](250*time.Millisecond, 10*time.Second)),
		controller.FailedProvisionThreshold(0),
		controller.CreateProvisionedPVInterval(500*time.Millisecond),
	)
}
