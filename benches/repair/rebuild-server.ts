// One data server for benches/repair/rebuild.ts, in its own process as in a cluster: a data
// service on port 0 over the disks named on the command line, with the rebuilder a data process
// hands it. Loads the checkout named by --repo, so two checkouts compare on the same machine.
//   node benches/repair/rebuild-server.ts --repo DIR --id s1 DISK...
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { repo: { type: 'string' }, id: { type: 'string' } },
  allowPositionals: true,
});
if (!values.repo || !values.id || positionals.length === 0)
  throw new Error('usage: rebuild-server.ts --repo DIR --id ID DISK...');
const load = (path: string) => import(join(values.repo as string, path));
await load('test/helpers/cluster-token.ts');
const { startDataService } = await load('src/data/index.ts');
const { ShardRebuilder } = await load('src/cluster/shard-rebuilder.ts');
const { silentLogger } = await load('src/observability/logger.ts');

const rebuilder = new ShardRebuilder(silentLogger);
const service = await startDataService({
  serverId: values.id,
  host: '127.0.0.1',
  port: 0,
  disks: positionals,
  // As the data processes wire it (serviceHooks, where the checkout has it: --repo may be older).
  ...(rebuilder.serviceHooks?.() ?? {
    rebuildShard: (header: unknown, _deadlineMs: unknown, local: unknown) =>
      rebuilder.rebuild(header, local),
  }),
});
process.send?.({ port: service.port });
process.on('disconnect', async () => {
  await service.close();
  await rebuilder.close();
  process.exit(0);
});
