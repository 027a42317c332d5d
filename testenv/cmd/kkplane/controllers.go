package main

// The stand-in's controllers share one set of informers (dynamic ones for
// the custom resources, typed ones for claims, volumes and classes) and run
// one work queue each:
//
//   - vm:        virt-controller, VirtualMachine → DataVolumes and VMI (kubevirt.go)
//   - dv:        CDI's DataVolume controller, DataVolume → PVC, import (cdi.go)
//   - vs, vsc:   the CSI snapshot controller and sidecar, VolumeSnapshot →
//     VolumeSnapshotContent (snapshots.go)
//   - vmsnap, vmrestore: KubeVirt's snapshot and restore controllers (vmsnapshots.go)
//   - the provisioner, on the library's own queues (storage.go)

import (
	"context"
	"log"
	"reflect"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

var (
	dataVolumeGVR            = schema.GroupVersionResource{Group: "cdi.kubevirt.io", Version: "v1beta1", Resource: "datavolumes"}
	volumeSnapshotGVR        = schema.GroupVersionResource{Group: snapshotGroup, Version: "v1", Resource: "volumesnapshots"}
	volumeSnapshotContentGVR = schema.GroupVersionResource{Group: snapshotGroup, Version: "v1", Resource: "volumesnapshotcontents"}
	volumeSnapshotClassGVR   = schema.GroupVersionResource{Group: snapshotGroup, Version: "v1", Resource: "volumesnapshotclasses"}
	vmSnapshotGVR            = schema.GroupVersionResource{Group: "snapshot.kubevirt.io", Version: "v1beta1", Resource: "virtualmachinesnapshots"}
	vmRestoreGVR             = schema.GroupVersionResource{Group: "snapshot.kubevirt.io", Version: "v1beta1", Resource: "virtualmachinerestores"}
)

// loop is one controller's work queue: sync returns how long to wait before
// looking at the key again (0: not until something changes), or an error
// (retried with a backoff of 50 ms doubling up to 5 s).
type loop struct {
	name  string
	queue workqueue.TypedRateLimitingInterface[string]
	sync  func(ctx context.Context, key string) (time.Duration, error)
}

func newLoop(name string, sync func(ctx context.Context, key string) (time.Duration, error)) *loop {
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 5*time.Second)
	return &loop{
		name:  name,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		sync:  sync,
	}
}

func (l *loop) add(key string) { l.queue.Add(key) }

func (l *loop) run(ctx context.Context, workers int, wg *sync.WaitGroup) {
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, quit := l.queue.Get()
				if quit {
					return
				}
				after, err := l.sync(ctx, key)
				switch {
				case err != nil && ctx.Err() == nil:
					if !apierrors.IsConflict(err) { // a conflict only means: look again
						log.Printf("%s %s: %v", l.name, key, err)
					}
					l.queue.AddRateLimited(key)
				case after > 0:
					l.queue.Forget(key)
					l.queue.AddAfter(key, after)
				default:
					l.queue.Forget(key)
				}
				l.queue.Done(key)
			}
		}()
	}
}

// onObject calls f with every added, updated or deleted object of an informer.
func onObject(f func(obj metav1.Object)) cache.ResourceEventHandlerFuncs {
	call := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if o, ok := obj.(metav1.Object); ok {
			f(o)
		}
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: call, UpdateFunc: func(_, o any) { call(o) }, DeleteFunc: call}
}

func keyOf(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// controllerOf: the name of obj's controlling owner of the given kind, or "".
func controllerOf(obj metav1.Object, kind string) string {
	for _, o := range obj.GetOwnerReferences() {
		if o.Kind == kind && o.Controller != nil && *o.Controller {
			return o.Name
		}
	}
	return ""
}

var everything = labels.Everything()

// get returns the object of a dynamic lister, or nil.
func get(l cache.GenericLister, ns, name string) *unstructured.Unstructured {
	var obj any
	var err error
	if ns == "" {
		obj, err = l.Get(name)
	} else {
		obj, err = l.ByNamespace(ns).Get(name)
	}
	if err != nil {
		return nil
	}
	u, _ := obj.(*unstructured.Unstructured)
	return u
}

// list returns the objects of a namespace of a dynamic lister.
func list(l cache.GenericLister, ns string) []*unstructured.Unstructured {
	objs, err := l.ByNamespace(ns).List(everything)
	if err != nil {
		return nil
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	return out
}

func str(obj *unstructured.Unstructured, fields ...string) string {
	if obj == nil {
		return ""
	}
	v, _, _ := unstructured.NestedString(obj.Object, fields...)
	return v
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// equalJSON compares two values decoded from JSON (or built the same way).
func equalJSON(a, b any) bool { return reflect.DeepEqual(a, b) }

// withCondition sets one condition of a status's conditions (a copy),
// keeping lastTransitionTime while the status stays the same, as the
// controllers' condition managers do; an empty reason or message is left
// out, as their types omit them. extra fields (lastProbeTime,
// lastHeartbeatTime) are set on any change.
func withCondition(conds []any, typ, status, reason, message string, extra map[string]any) []any {
	out := make([]any, 0, len(conds)+1)
	var found map[string]any
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == typ {
			m = deepCopyMap(m)
			found = m
			c = m
		}
		out = append(out, c)
	}
	if found == nil {
		found = map[string]any{"type": typ}
		out = append(out, found)
	}
	text := func(k string) string { v, _ := found[k].(string); return v }
	changed := text("status") != status || text("reason") != reason || text("message") != message
	if text("status") != status || found["lastTransitionTime"] == nil {
		found["lastTransitionTime"] = now()
	}
	found["status"] = status
	for k, v := range map[string]string{"reason": reason, "message": message} {
		if v == "" {
			delete(found, k)
		} else {
			found[k] = v
		}
	}
	for k, v := range extra {
		if _, ok := found[k]; !ok || changed {
			found[k] = v
		}
	}
	return out
}

func conditionOf(obj *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	return findCondition(conds, typ)
}

func findCondition(conds []any, typ string) map[string]any {
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

// vmCacheLagAnnotation on a namespace holds its VMs' changes back from the
// controller's cache (see runController).
const vmCacheLagAnnotation = "kkplane.kubekloud.io/vm-cache-lag"

// runController starts the informers and every controller, and returns when ctx ends.
func (s *kubevirtSim) runController(ctx context.Context) {
	dyn := dynamicinformer.NewDynamicSharedInformerFactory(s.client, 10*time.Minute)
	kf := informers.NewSharedInformerFactory(s.kube, 10*time.Minute)
	informer := func(gvr schema.GroupVersionResource) (cache.SharedIndexInformer, cache.GenericLister) {
		i := dyn.ForResource(gvr)
		return i.Informer(), i.Lister()
	}
	vmInf, vms := informer(vmGVR)
	nsInf := kf.Core().V1().Namespaces()
	namespaces := nsInf.Lister()
	// A busy virt-controller's copy of a VM can trail the API server (its VM
	// and VMI watches are separate streams). In a namespace annotated with
	// vmCacheLagAnnotation (a Go duration), every change of a VM reaches this
	// controller's cache that much later: a VMI deleted meanwhile is made again
	// from the older VM, as KubeVirt would. Tests use it to show what depends on that order.
	_ = vmInf.SetTransform(func(o any) (any, error) {
		if m, ok := o.(metav1.Object); ok {
			if ns, err := namespaces.Get(m.GetNamespace()); err == nil {
				if lag, err := time.ParseDuration(ns.GetAnnotations()[vmCacheLagAnnotation]); err == nil && lag > 0 && lag <= 10*time.Second {
					time.Sleep(lag)
				}
			}
		}
		return o, nil
	})
	vmiInf, vmis := informer(vmiGVR)
	dvInf, dvs := informer(dataVolumeGVR)
	vsInf, vss := informer(volumeSnapshotGVR)
	vscInf, vscs := informer(volumeSnapshotContentGVR)
	vsClassInf, vsClasses := informer(volumeSnapshotClassGVR)
	vmSnapInf, vmSnaps := informer(vmSnapshotGVR)
	vmRestoreInf, vmRestores := informer(vmRestoreGVR)
	pvcInf := kf.Core().V1().PersistentVolumeClaims()
	podInf := kf.Core().V1().Pods()
	nodeInf := kf.Core().V1().Nodes()
	pods, nodes := podInf.Lister(), nodeInf.Lister()
	pvInf := kf.Core().V1().PersistentVolumes()
	scInf := kf.Storage().V1().StorageClasses()
	s.vms, s.vmis, s.dvs, s.vss, s.vscs, s.vsClasses, s.vmSnaps, s.vmRestores = vms, vmis, dvs, vss, vscs, vsClasses, vmSnaps, vmRestores
	s.pvcs, s.pvs, s.classes, s.nodes = pvcInf.Lister(), pvInf.Lister(), scInf.Lister(), nodes

	vmLoop := newLoop("vm", s.syncVM)
	dvLoop := newLoop("datavolume", s.syncDataVolume)
	vsLoop := newLoop("volumesnapshot", s.syncVolumeSnapshot)
	vscLoop := newLoop("volumesnapshotcontent", s.syncVolumeSnapshotContent)
	vmSnapLoop := newLoop("vmsnapshot", s.syncVMSnapshot)
	vmRestoreLoop := newLoop("vmrestore", s.syncVMRestore)
	loops := []*loop{vmLoop, dvLoop, vsLoop, vscLoop, vmSnapLoop, vmRestoreLoop}

	// What each change may concern, besides the object's own controller.
	snapshotsOfVM := func(ns, vm string) {
		for _, snap := range list(vmSnaps, ns) {
			if str(snap, "spec", "source", "name") == vm && str(snap, "status", "phase") != "Succeeded" {
				vmSnapLoop.add(keyOf(ns, snap.GetName()))
			}
		}
	}
	pendingRestores := func(ns string, match func(r *unstructured.Unstructured) bool) {
		for _, r := range list(vmRestores, ns) {
			if done, _, _ := unstructured.NestedBool(r.Object, "status", "complete"); !done && match(r) {
				vmRestoreLoop.add(keyOf(ns, r.GetName()))
			}
		}
	}
	restoresOfVM := func(ns, vm string) {
		pendingRestores(ns, func(r *unstructured.Unstructured) bool { return str(r, "spec", "target", "name") == vm })
	}
	_, _ = vmInf.AddEventHandler(onObject(func(o metav1.Object) {
		vmLoop.add(keyOf(o.GetNamespace(), o.GetName()))
		snapshotsOfVM(o.GetNamespace(), o.GetName())
		restoresOfVM(o.GetNamespace(), o.GetName())
	}))
	_, _ = vmiInf.AddEventHandler(onObject(func(o metav1.Object) {
		vmLoop.add(keyOf(o.GetNamespace(), o.GetName()))
		restoresOfVM(o.GetNamespace(), o.GetName())
	}))
	_, _ = dvInf.AddEventHandler(onObject(func(o metav1.Object) {
		dvLoop.add(keyOf(o.GetNamespace(), o.GetName()))
		if vm := controllerOf(o, "VirtualMachine"); vm != "" {
			vmLoop.add(keyOf(o.GetNamespace(), vm))
			restoresOfVM(o.GetNamespace(), vm)
		}
	}))
	_, _ = pvcInf.Informer().AddEventHandler(onObject(func(o metav1.Object) {
		ns := o.GetNamespace()
		dvLoop.add(keyOf(ns, o.GetName())) // a DataVolume's claim has its name
		for _, vs := range list(vss, ns) {
			if str(vs, "spec", "source", "persistentVolumeClaimName") == o.GetName() {
				vsLoop.add(keyOf(ns, vs.GetName()))
			}
		}
		if r := o.GetAnnotations()[restoreNameAnnotation]; r != "" {
			vmRestoreLoop.add(keyOf(ns, r))
		}
	}))
	_, _ = vsInf.AddEventHandler(onObject(func(o metav1.Object) {
		vsLoop.add(keyOf(o.GetNamespace(), o.GetName()))
		vscLoop.add(contentNameFor(o))
		if snap := controllerOf(o, "VirtualMachineSnapshot"); snap != "" {
			vmSnapLoop.add(keyOf(o.GetNamespace(), snap))
		}
	}))
	_, _ = vscInf.AddEventHandler(onObject(func(o metav1.Object) {
		vscLoop.add(o.GetName())
		if u, ok := o.(*unstructured.Unstructured); ok {
			vsLoop.add(keyOf(str(u, "spec", "volumeSnapshotRef", "namespace"), str(u, "spec", "volumeSnapshotRef", "name")))
		}
	}))
	_, _ = vmSnapInf.AddEventHandler(onObject(func(o metav1.Object) {
		vmSnapLoop.add(keyOf(o.GetNamespace(), o.GetName()))
		pendingRestores(o.GetNamespace(), func(r *unstructured.Unstructured) bool {
			return str(r, "spec", "virtualMachineSnapshotName") == o.GetName()
		})
	}))
	_, _ = vmRestoreInf.AddEventHandler(onObject(func(o metav1.Object) {
		vmRestoreLoop.add(keyOf(o.GetNamespace(), o.GetName()))
	}))

	// The provisioner adds its handlers and indexers to the claim, volume and
	// class informers, so it is created before they start.
	provisioner := s.newProvisioner(ctx, kf)

	dyn.Start(ctx.Done())
	kf.Start(ctx.Done())
	synced := []cache.InformerSynced{
		vmInf.HasSynced, vmiInf.HasSynced, dvInf.HasSynced, vsInf.HasSynced, vscInf.HasSynced, vsClassInf.HasSynced,
		vmSnapInf.HasSynced, vmRestoreInf.HasSynced, pvcInf.Informer().HasSynced, pvInf.Informer().HasSynced, scInf.Informer().HasSynced,
		nsInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced,
	}
	for !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return
		}
	}
	go func() {
		<-ctx.Done()
		for _, l := range loops {
			l.queue.ShutDown()
		}
	}()
	go provisioner.Run(ctx)
	go s.reapPods(ctx, pods, nodes)
	var wg sync.WaitGroup
	// VMs sixteen at a time: each takes a VMI's create and status write, then
	// the VM's own status write, and with four the loop itself paced a
	// convergence of thousands of VMs.
	vmLoop.run(ctx, 16, &wg)
	dvLoop.run(ctx, 4, &wg)
	vsLoop.run(ctx, 2, &wg)
	vscLoop.run(ctx, 2, &wg)
	vmSnapLoop.run(ctx, 2, &wg)
	vmRestoreLoop.run(ctx, 2, &wg)
	wg.Wait()
}

// Listers the controllers read from.
type listers struct {
	vms, vmis, dvs, vss, vscs, vsClasses, vmSnaps, vmRestores cache.GenericLister
	pvcs                                                      corelisters.PersistentVolumeClaimLister
	pvs                                                       corelisters.PersistentVolumeLister
	classes                                                   storagelisters.StorageClassLister
	nodes                                                     corelisters.NodeLister
}
