// The layout as rules (docs/ARCHITECTURE.md › Where things live), checked by
// test/architecture/layers.test.ts on every test run:
//
//   http ──▶ service ──▶ store ──▶ domain
//     │         │                    ▲
//     └─────────┴──────▶ domain ─────┘        reconciler ──▶ service, store, kube, domain
//   main.ts wires them all; src/admin (commands main.ts runs instead of serving)
//   composes like it; the CLI and the web console are clients of the HTTP API
//   and take only its types.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Modules must not import each other, directly or through others.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'src/domain is pure: no I/O, no other layer, no package.',
      from: { path: '^src/domain/' },
      to: { pathNot: '^src/domain/' },
    },
    {
      name: 'store-only-under-services',
      severity: 'error',
      comment: 'Only services, the reconciler and main.ts reach the database; HTTP calls services.',
      from: { path: '^src/(http|kube|domain|cli|config|observability)/' },
      to: { path: '^src/store/' },
    },
    {
      name: 'http-only-translates',
      severity: 'error',
      comment: 'src/http reaches Kubernetes and the reconciler only through what it is given.',
      from: { path: '^src/http/' },
      to: { path: '^src/(kube|reconciler)/' },
    },
    {
      name: 'nothing-depends-on-http',
      severity: 'error',
      comment: 'The HTTP layer is an edge: services, the store, the reconciler and the domain do not know it (main.ts wires it).',
      from: { path: '^src/(service|store|reconciler|domain|kube|observability|config)/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'services-do-not-drive-kubernetes',
      severity: 'error',
      comment: 'Only the reconciler talks to Kubernetes; a request never waits for it.',
      from: { path: '^src/(service|store)/' },
      to: { path: '^src/(kube|reconciler)/' },
    },
    {
      name: 'admin-is-an-entry-point',
      severity: 'error',
      comment: 'src/admin holds commands that main.ts runs instead of serving; like main.ts it composes the layers, and nothing but main.ts imports it.',
      from: { path: '^src/', pathNot: '^src/(main\\.ts$|admin/)' },
      to: { path: '^src/admin/' },
    },
    {
      name: 'console-takes-only-types',
      severity: 'error',
      comment: 'The web console is a client of the HTTP API: from the server it imports types only, so its bundle carries no server code.',
      from: { path: '^console/src/' },
      to: { path: '^src/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'cli-takes-types-and-pure-domain',
      severity: 'error',
      comment: 'The CLI is a client of the HTTP API: from the server it imports types only, plus pure src/domain code (convergence) it must judge the same way.',
      from: { path: '^src/cli/' },
      to: { path: '^src/(?!cli/|domain/)', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'contract-is-shared',
      severity: 'error',
      comment: 'src/contract (the v1 schemas and their types) is shared by http, service and the clients: it builds only on src/domain.',
      from: { path: '^src/contract/' },
      to: { path: '^src/(?!contract/|domain/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs', '.json'] },
  },
};
