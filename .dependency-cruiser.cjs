/**
 * The layering rules of docs/architecture.md, checked by `npm test` (npm run lint:deps) on the TypeScript
 * sources, type-only imports included. A violation fails with the rule's name.
 *
 *   src/app/        composition root: may import everything
 *   src/admin/      admin module: the core's API, transport types
 *   protocols/<p>/  adapters: the core's API, transport types, protocols/aws (SQS/SNS), never each other
 *   src/transport/  listeners: the core's API types only
 *   src/core/       the engine: imports nothing above it
 *   storage/, cluster/  implement the core's Store port
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles hide which module owns what; split the shared part out.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-imports-nothing-above',
      severity: 'error',
      comment: 'src/core is the bottom layer: no protocol, transport, admin, storage, cluster or composition root.',
      from: { path: '^src/core/' },
      to: { path: '^(protocols|storage|cluster)/|^src/(app|admin|transport)/' },
    },
    {
      name: 'adapters-use-core-api-only',
      severity: 'error',
      comment: 'Protocol adapters reach the engine through src/core/api.ts only (no queues, plans, raw commits).',
      from: { path: '^protocols/' },
      to: { path: '^src/core/', pathNot: '^src/core/api\\.ts$' },
    },
    {
      name: 'admin-uses-core-api-only',
      severity: 'error',
      comment: 'The admin API, console and CLI reach the engine through src/core/api.ts only.',
      from: { path: '^src/admin/' },
      to: { path: '^src/core/', pathNot: '^src/core/api\\.ts$' },
    },
    {
      name: 'transport-uses-core-api-only',
      severity: 'error',
      from: { path: '^src/transport/' },
      to: { path: '^src/core/', pathNot: '^src/core/api\\.ts$' },
    },
    {
      name: 'adapters-not-each-other',
      severity: 'error',
      comment: 'A protocol never imports another; what SQS and SNS share lives in protocols/aws.',
      from: { path: '^protocols/([^/]+)/' },
      to: { path: '^protocols/', pathNot: ['^protocols/$1/', '^protocols/aws/'] },
    },
    {
      name: 'only-the-root-knows-everything',
      severity: 'error',
      comment: 'Only src/app (cli, broker, config, module registry) imports the composition root.',
      from: { pathNot: '^src/app/' },
      to: { path: '^src/app/' },
    },
    {
      name: 'transport-below-adapters',
      severity: 'error',
      from: { path: '^src/transport/' },
      to: { path: '^(protocols|storage|cluster)/|^src/admin/' },
    },
    {
      name: 'adapters-not-storage',
      severity: 'error',
      comment: 'Adapters and admin never touch storage or the cluster: they go through the engine.',
      from: { path: '^(protocols|src/admin|src/transport)/' },
      to: { path: '^(storage|cluster)/' },
    },
    {
      name: 'only-storage-imports-lmdb',
      severity: 'error',
      comment: 'lmdb is an implementation detail of storage/ (the cluster keeps its Raft log through it).',
      from: { pathNot: '^storage/' },
      to: { path: 'node_modules/lmdb/' },
    },
    {
      name: 'storage-below-engine-users',
      severity: 'error',
      from: { path: '^(storage|cluster)/' },
      to: { path: '^(protocols)/|^src/(app|admin|transport)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/|^src/admin/ui/' },
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
