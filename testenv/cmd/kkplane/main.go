// Command kkplane is one binary that runs every component of the local
// Kubernetes control plane, chosen by its first argument. Linking them
// together keeps the build cache and the link step to one instead of five.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwok "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

const usage = "usage: kkplane etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok|kubevirt|pki [flags]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	component, args := os.Args[1], os.Args[2:]
	if (component == "kube-controller-manager" || component == "kube-scheduler") && os.Getenv(supervisedEnv) == "" {
		os.Exit(supervise(component))
	}
	switch component {
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	case "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kwok":
		os.Exit(runKwok(args))
	case "kubevirt":
		os.Exit(runKubevirt(args))
	case "pki":
		os.Exit(runPKI(args))
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}

// runKwok starts kwok the way its own main does: kwok reads its Stage and
// configuration documents (--config) and its log level (-v) into the context
// before the command runs, parsing os.Args itself.
func runKwok(args []string) int {
	os.Args = append([]string{"kwok"}, args...)
	flagset := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flagset.ParseErrorsAllowlist.UnknownFlags = true
	flagset.Usage = func() {}

	ctx := signals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, flagset)
	ctx, err := kwokconfig.InitFlags(ctx, flagset)
	if err != nil {
		logger.Error("Init config flags", "err", err)
		return 1
	}
	cmd := kwok.NewCommand(ctx)
	// The Kubernetes components linked into this binary register a global,
	// non-boolean --version flag, which breaks cobra's own version flag.
	cmd.Version = ""
	cmd.PersistentFlags().AddFlagSet(flagset)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		logger.Error("Execute exit", "err", err)
		return 1
	}
	return 0
}
