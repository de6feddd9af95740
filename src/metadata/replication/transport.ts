// Raft messages between metadata nodes, over the internal RPC layer: one persistent connection
// per peer, method raft.step, the message as the msgpack header. Sends are one-way
// (RpcClient.notify: no reply frame, timer or pending call per message; the answer to a Raft
// message is another Raft message): the core retries whatever is lost, so a failed send is only
// logged (at debug, since a down peer fails every heartbeat); the receiver logs a failed step.

import type { Logger } from '../../observability/logger.ts';
import type { Message, NodeId } from '../../raft/index.ts';
import { RpcClient } from '../../rpc/index.ts';

export const RAFT_RPC = {
  step: 'raft.step',
  hello: 'raft.hello', // -> { nodeId }
  status: 'raft.status',
  addMember: 'raft.addMember', // { nodeId, addr } -> {}; on the leader (followers forward)
  removeMember: 'raft.removeMember', // { nodeId } -> {}
} as const;

const SEND_TIMEOUT_MS = 2_000;

export class RaftTransport {
  private readonly peers = new Map<NodeId, string>(); // id -> metadata address
  private readonly clients = new Map<string, RpcClient>();
  private isClosed = false;
  private readonly log: Logger;
  selfAddr = ''; // sent with every message, so a node learns the address of whoever talks to it

  constructor(log: Logger) {
    this.log = log;
  }

  removePeer(id: NodeId): void {
    this.peers.delete(id);
  }

  setPeer(id: NodeId, addr: string): void {
    this.peers.set(id, addr);
  }

  addrOf(id: NodeId): string | undefined {
    return this.peers.get(id);
  }

  peerIds(): NodeId[] {
    return [...this.peers.keys()];
  }

  client(addr: string): RpcClient {
    let client = this.clients.get(addr);
    if (!client) {
      client = new RpcClient(addr, { connectTimeoutMs: 1_000, defaultTimeoutMs: SEND_TIMEOUT_MS });
      this.clients.set(addr, client);
    }
    return client;
  }

  send(message: Message): void {
    const addr = this.peers.get(message.to);
    if (addr === undefined) {
      this.log.debug('raft message to a node without an address', { to: message.to });
      return;
    }
    this.client(addr)
      .notify(RAFT_RPC.step, { message, fromAddr: this.selfAddr }, SEND_TIMEOUT_MS)
      .catch((error) => this.log.debug('raft send failed', { to: message.to, error }));
  }

  // Whether close() was called: loops that ask peers (the start's raft.hello) end there.
  get closed(): boolean {
    return this.isClosed;
  }

  async close(): Promise<void> {
    this.isClosed = true;
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }
}
