package main

// The kubelet's persistence in deleting a pod, which kwok lacks. kwok plays
// a terminating pod's delete stage once; when that delete fails with an error
// kwok does not retry (an internal error from the API server while etcd
// restarts, say), the pod stays terminating for good. A kubelet keeps
// reconciling until the pod is gone. So, for pods on kwok's nodes: one whose
// deletion was asked for more than podReapAfter ago and that has no finalizer
// left is deleted again, at once (grace period 0, only that UID). The wait is
// longer than kwok's node leases (10 s): a kwok that was down and came back
// takes its nodes over and deletes what was asked meanwhile itself first.

import (
	"context"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
)

const (
	podReapAfter = 15 * time.Second
	podReapEvery = 2 * time.Second
)

// deletionAskedAt is when the pod's deletion was requested: its deletion
// timestamp less its grace period.
func deletionAskedAt(p *corev1.Pod) time.Time {
	at := p.DeletionTimestamp.Time
	if g := p.DeletionGracePeriodSeconds; g != nil {
		at = at.Add(-time.Duration(*g) * time.Second)
	}
	return at
}

func (s *kubevirtSim) reapPods(ctx context.Context, pods corelisters.PodLister, nodes corelisters.NodeLister) {
	t := time.NewTicker(podReapEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		all, err := pods.List(labels.Everything())
		if err != nil {
			continue
		}
		for _, p := range all {
			if p.DeletionTimestamp == nil || len(p.Finalizers) > 0 || time.Since(deletionAskedAt(p)) < podReapAfter {
				continue
			}
			if n, err := nodes.Get(p.Spec.NodeName); err != nil || n.Labels["type"] != "kwok" {
				continue // not on a node kwok plays the kubelet of
			}
			err := s.kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
				GracePeriodSeconds: ptr(int64(0)),
				Preconditions:      &metav1.Preconditions{UID: &p.UID},
			})
			switch {
			case err == nil:
				log.Printf("pod %s/%s still terminating %s after its deletion was asked for: deleted again", p.Namespace, p.Name, time.Since(deletionAskedAt(p)).Round(time.Second))
			case !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil:
				log.Printf("pod %s/%s: deleting it again: %v", p.Namespace, p.Name, err)
			}
		}
	}
}
