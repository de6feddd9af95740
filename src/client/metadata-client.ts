import { StrataError, type StrataErrorCode } from '../common/errors.ts';
import {
  type ClusterConfig,
  type Command,
  type CommandResult,
  METADATA_RPC,
  type MetadataReader,
} from '../metadata/types.ts';
import { RpcClient } from '../rpc/index.ts';

type OkResult = Extract<CommandResult, { ok: true }>;
type ReaderFn = keyof MetadataReader;

// Talks to the metadata service. Today there is one metadata address; with Raft, several are given
// and this is where requests find the leader.
export class MetadataClient {
  readonly addrs: string[];
  private readonly rpc: RpcClient;
  private configCache: ClusterConfig | undefined;

  constructor(addrs: string[], options: { timeoutMs?: number } = {}) {
    if (addrs.length === 0) throw new StrataError('EINVAL', 'no metadata address given');
    this.addrs = addrs;
    this.rpc = new RpcClient(addrs[0], { defaultTimeoutMs: options.timeoutMs ?? 30_000 });
  }

  // Applies a command; an error result becomes a thrown StrataError with the same code.
  async apply(command: Command): Promise<OkResult> {
    const reply = await this.rpc.call<CommandResult>(METADATA_RPC.apply, command);
    const result = reply.header;
    if (!result.ok) throw new StrataError(result.code as StrataErrorCode, result.message);
    return result;
  }

  async read<F extends ReaderFn>(
    fn: F,
    ...args: Parameters<MetadataReader[F]>
  ): Promise<ReturnType<MetadataReader[F]>> {
    const reply = await this.rpc.call<{ value: ReturnType<MetadataReader[F]> }>(METADATA_RPC.read, {
      fn,
      args,
    });
    // msgpack has no `undefined`: absent values come back as null.
    return (reply.header.value ?? undefined) as ReturnType<MetadataReader[F]>;
  }

  async config(): Promise<ClusterConfig> {
    if (this.configCache) return this.configCache;
    const reply = await this.rpc.call<ClusterConfig>(METADATA_RPC.config, {});
    this.configCache = reply.header;
    return reply.header;
  }

  async close(): Promise<void> {
    await this.rpc.close();
  }
}
