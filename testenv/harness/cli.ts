// npm run cluster:up | cluster:down | cluster:status [-- --nodes N]
// npx tsx testenv/harness/cli.ts crds: the operators' CRDs (operatorCrds.ts) into the running plane
import { PlaneError, kubeconfigPath } from './config.ts';
import { ensureBinary } from './build.ts';
import { installOperatorCrds } from './operatorCrds.ts';
import { down, status, up } from './plane.ts';

function usage(): never {
  console.error('usage: tsx testenv/harness/cli.ts up [--nodes N] | down | status | build | crds');
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'up': {
      let nodes: number | undefined;
      for (let i = 0; i < rest.length; i++) {
        const a = rest[i]!;
        const v = a.startsWith('--nodes=') ? a.slice(8) : a === '--nodes' ? rest[++i] : undefined;
        if (v === undefined) usage();
        nodes = Number(v);
        if (!Number.isInteger(nodes) || nodes < 1) throw new PlaneError(`--nodes must be a positive integer, got "${v}"`);
      }
      const r = await up({ nodes });
      if (r.startedHere) {
        console.error(
          `local control plane: up in ${((r.startupMs ?? 0) / 1000).toFixed(1)} s — Kubernetes ${r.state.versions.kubernetes}, ` +
            `${r.state.nodes} fake nodes, API ${r.apiURL}`,
        );
      } else {
        console.error(`local control plane: already up — API ${r.apiURL}`);
      }
      console.log(`export KUBECONFIG=${kubeconfigPath}`);
      return;
    }
    case 'down': {
      if (await down()) console.error('local control plane: stopped, temporary state removed');
      return;
    }
    case 'status': {
      const s = await status();
      if (!s.state) {
        console.log('local control plane: not running');
        process.exitCode = 1;
        return;
      }
      const allAlive = s.components.every((c) => c.alive);
      console.log(
        `local control plane: ${allAlive && s.apiReady ? 'up' : 'DEGRADED'} — Kubernetes ${s.state.versions.kubernetes}, ` +
          `etcd ${s.state.versions.etcd}, kwok ${s.state.versions.kwok}, ${s.state.nodes} fake nodes`,
      );
      console.log(`  API        ${s.state.apiURL} (${s.apiReady ? 'ready' : 'not ready'})`);
      console.log(`  kubeconfig ${s.state.kubeconfig}`);
      for (const c of s.components) {
        console.log(`  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} port ${String(c.port).padEnd(6)} ${c.alive ? 'alive' : 'DEAD '}  log ${c.log}`);
      }
      if (!(allAlive && s.apiReady)) process.exitCode = 1;
      return;
    }
    case 'crds': {
      const installed = await installOperatorCrds({ log: (l) => console.error(l) });
      console.log(installed.map((c) => `${c.name}\t${c.module}@${c.version}`).join('\n'));
      return;
    }
    case 'build': {
      const plan = await ensureBinary();
      console.log(plan.binary);
      return;
    }
    default:
      usage();
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof PlaneError) console.error(`local control plane: ${e.message}`);
  else console.error(e);
  process.exit(1);
});
