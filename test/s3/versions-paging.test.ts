// ListObjectVersions paged while other clients write (issue 15): 10,000 versions over 100 keys,
// listed 250 (or fewer) at a time by key and version-id markers, with a delimiter and a prefix,
// while writers add versions and delete markers to the same keys and delete old versions by id.
// Every version that existed when the listing started and was not deleted during it is listed
// exactly once, in S3's order (keys ascending, each key's versions newest first), each key's
// first listed version is its latest, and the null versions (made before versioning and under
// Suspended) sit where they were made. Writers' ids are known from their responses, so the test
// holds its own model of every key and never reads the listing as its oracle.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const NULL = 'null';
const HEX_ID = /^[0-9a-f]{14}$/;

interface ModelVersion {
  id: string;
  deleteMarker: boolean;
}

// Each key's versions, newest first, as the writes' responses said.
type Model = Map<string, ModelVersion[]>;

// 56 keys at the top, 10 in each of dir0/..dir3/, and 4 one level further in dir1/sub/.
const KEYS = [
  ...Array.from({ length: 56 }, (_, i) => `k${String(i).padStart(2, '0')}`),
  ...Array.from({ length: 40 }, (_, i) => `dir${i % 4}/k${String(i).padStart(2, '0')}`),
  ...Array.from({ length: 4 }, (_, i) => `dir1/sub/s${i}`),
].sort();
assert.equal(new Set(KEYS).size, 100);
// Keys written before versioning (an implicit null version each); five of them never again.
const PRE_VERSIONING = KEYS.filter((_, i) => i % 5 === 0);
const NULL_ONLY = PRE_VERSIONING.slice(0, 5);
// Keys that get a null version under Suspended, between versions made under Enabled.
const SUSPENDED_NULL = KEYS.filter((k, i) => i % 3 === 1 && !NULL_ONLY.includes(k));
// Keys the concurrent writers touch; the others stay as the model says, for exact comparison.
const HOT = KEYS.filter((k, i) => i % 5 !== 4 && !NULL_ONLY.includes(k));
const VERSIONS_TARGET = 10_000;

// Runs `work` over the items with at most `limit` in flight.
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// A seeded generator (xorshift), so a failing run replays with the same writes.
function randomOf(seed: number) {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

interface Listed {
  key: string;
  id: string;
  deleteMarker: boolean;
  isLatest: boolean;
}

interface Listing {
  entries: Listed[]; // in listing order (see pageEntries)
  prefixes: string[];
}

describe('ListObjectVersions paging under concurrent writers', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const model: Model = new Map(KEYS.map((k) => [k, []]));

  const versioning = (Bucket: string, Status: 'Enabled' | 'Suspended') =>
    s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status } }));

  // A write of `key` in `bucket`: a PUT, or a DELETE without a version id (a delete marker).
  // Under Suspended the new version is null and replaces the key's previous null (AWS's rule).
  async function write(bucket: string, key: string, deleteMarker: boolean, into: Model) {
    const versions = into.get(key) as ModelVersion[];
    let id: string | undefined;
    if (deleteMarker) {
      const out = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(out.DeleteMarker, true, `DELETE ${key} made a delete marker`);
      id = out.VersionId;
    } else {
      const body = versions.length % 4 === 0 ? `${key}#${versions.length}` : '';
      id = (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })))
        .VersionId;
    }
    assert.ok(id === NULL || HEX_ID.test(id ?? ''), `${key}: a version id, got ${id}`);
    if (id === NULL) {
      const previous = versions.findIndex((v) => v.id === NULL);
      if (previous >= 0) versions.splice(previous, 1);
    }
    versions.unshift({ id: id as string, deleteMarker });
  }

  // A delete marker on each key in one DeleteObjects (versioning Enabled: each has its own id).
  async function markAll(bucket: string, keys: string[]) {
    const Objects = keys.map((Key) => ({ Key }));
    const out = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects } }));
    assert.deepEqual(out.Errors ?? [], [], 'DeleteObjects: no key failed');
    assert.equal(out.Deleted?.length, keys.length);
    for (const deleted of out.Deleted ?? []) {
      assert.equal(deleted.DeleteMarker, true, `${deleted.Key}: a delete marker`);
      const id = deleted.DeleteMarkerVersionId ?? '';
      assert.match(id, HEX_ID, `${deleted.Key}: the marker's id`);
      (model.get(deleted.Key as string) as ModelVersion[]).unshift({ id, deleteMarker: true });
    }
  }

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  // Where a version sits among its key's, doubled: hex ids say it (smaller is newer); a null
  // version is placed by the model between its neighbours (ids are near 2^53: BigInt, not Number).
  function rankOf(key: string, id: string, snapshot: Model): bigint {
    const hex = (v: string) => BigInt(`0x${v}`) * 2n;
    if (id !== NULL) return hex(id);
    const versions = snapshot.get(key) as ModelVersion[];
    const at = versions.findIndex((v) => v.id === NULL);
    assert.ok(at >= 0, `${key}: a listed null version is in the model`);
    const older = versions.slice(at + 1).find((v) => v.id !== NULL);
    const newer = versions.slice(0, at).findLast((v) => v.id !== NULL);
    if (older !== undefined) return hex(older.id) - 1n;
    if (newer !== undefined) return hex(newer.id) + 1n;
    return 0n;
  }

  // One page's versions and delete markers in S3 order (the SDK hands them over as two lists).
  function pageEntries(page: ListObjectVersionsCommandOutput, snapshot: Model): Listed[] {
    const versions = (page.Versions ?? []).map((v) => ({
      key: v.Key as string,
      id: v.VersionId as string,
      deleteMarker: false,
      isLatest: v.IsLatest === true,
    }));
    const markers = (page.DeleteMarkers ?? []).map((m) => ({
      key: m.Key as string,
      id: m.VersionId as string,
      deleteMarker: true,
      isLatest: m.IsLatest === true,
    }));
    const order = (a: Listed, b: Listed) =>
      a.key === b.key
        ? Number(rankOf(a.key, a.id, snapshot) - rankOf(b.key, b.id, snapshot))
        : Buffer.compare(Buffer.from(a.key), Buffer.from(b.key));
    for (const list of [versions, markers])
      for (let i = 1; i < list.length; i++)
        assert.ok(
          order(list[i - 1], list[i]) < 0,
          `in order: ${JSON.stringify(list[i - 1])} then ${JSON.stringify(list[i])}: ${JSON.stringify(snapshot.get(list[i].key))}`,
        );
    return [...versions, ...markers].sort(order);
  }

  // Pages through the listing with the markers each page names, checking the markers' round trip.
  async function listAll(
    bucket: string,
    query: { Prefix?: string; Delimiter?: string; MaxKeys: number },
    snapshot: Model,
  ): Promise<Listing> {
    const listing: Listing = { entries: [], prefixes: [] };
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 1000, 'the listing ends');
      const page = await s3.send(
        new ListObjectVersionsCommand({ Bucket: bucket, ...query, KeyMarker, VersionIdMarker }),
      );
      assert.equal(page.KeyMarker ?? '', KeyMarker ?? '', 'KeyMarker echoed');
      assert.equal(page.VersionIdMarker ?? '', VersionIdMarker ?? '', 'VersionIdMarker echoed');
      const entries = pageEntries(page, snapshot);
      const prefixes = (page.CommonPrefixes ?? []).map((p) => p.Prefix as string);
      const count = entries.length + prefixes.length;
      assert.ok(count <= query.MaxKeys && count > 0, `a page of 1 to MaxKeys, got ${count}`);
      const lastEntry = entries.at(-1);
      const lastPrefix = prefixes.at(-1);
      const endsOnPrefix =
        lastPrefix !== undefined &&
        (lastEntry === undefined ||
          Buffer.compare(Buffer.from(lastPrefix), Buffer.from(lastEntry.key)) > 0);
      listing.entries.push(...entries);
      listing.prefixes.push(...prefixes);
      if (!page.IsTruncated) {
        assert.equal(page.NextKeyMarker, undefined, 'no NextKeyMarker on the last page');
        return listing;
      }
      if (endsOnPrefix) {
        assert.equal(page.NextKeyMarker, lastPrefix, 'NextKeyMarker: the last common prefix');
        assert.equal(page.NextVersionIdMarker, undefined, 'no version marker after a prefix');
      } else {
        const last = lastEntry as Listed;
        assert.equal(page.NextKeyMarker, last.key, 'NextKeyMarker: the last key listed');
        // A null version's marker may name its place instead (its id does not say where it is).
        if (last.id !== NULL) assert.equal(page.NextVersionIdMarker, last.id, 'version marker');
        else assert.match(page.NextVersionIdMarker ?? '', /^(null|[0-9a-f]{14})$/);
      }
      KeyMarker = page.NextKeyMarker;
      VersionIdMarker = page.NextVersionIdMarker;
    }
  }

  // The listing holds every version of the snapshot that was not deleted meanwhile, once each
  // and in order; newer versions (the writers') only before a key's snapshot versions; each
  // key's first listed version is its only IsLatest; quiet keys are exactly as the snapshot.
  function checkListing(
    listing: Listing,
    snapshot: Model,
    expected: { keys: string[]; prefixes: string[] },
    written: Set<string>,
    deleted: Set<string>,
  ) {
    assert.deepEqual(listing.prefixes, expected.prefixes, 'common prefixes, once each, in order');
    const byKey = new Map<string, Listed[]>();
    let previousKey = '';
    for (const entry of listing.entries) {
      assert.ok(
        Buffer.compare(Buffer.from(previousKey), Buffer.from(entry.key)) <= 0,
        `keys ascending: ${previousKey} then ${entry.key}`,
      );
      previousKey = entry.key;
      const list = byKey.get(entry.key) ?? [];
      list.push(entry);
      byKey.set(entry.key, list);
    }
    assert.deepEqual([...byKey.keys()], expected.keys, 'the keys listed');
    for (const key of expected.keys) {
      const listed = byKey.get(key) as Listed[];
      const before = snapshot.get(key) as ModelVersion[];
      const ids = listed.map((v) => v.id);
      assert.equal(new Set(ids).size, ids.length, `${key}: no version listed twice: ${ids}`);
      for (let i = 1; i < listed.length; i++) {
        const [newer, older] = [listed[i - 1].id, listed[i].id];
        const inOrder = rankOf(key, newer, snapshot) < rankOf(key, older, snapshot);
        assert.ok(inOrder, `${key}: newest first across pages: ${newer} then ${older}`);
      }
      assert.deepEqual(
        listed.map((v) => v.isLatest),
        listed.map((_, i) => i === 0),
        `${key}: the first listed version is the only latest`,
      );
      const kept = before.filter((v) => !deleted.has(`${key}@${v.id}`));
      // A version deleted during the listing may be listed or not, depending on which came first.
      const fromSnapshot = listed.filter(
        (v) => before.some((b) => b.id === v.id) && !deleted.has(`${key}@${v.id}`),
      );
      assert.deepEqual(
        fromSnapshot.map((v) => `${v.id}${v.deleteMarker ? '!' : ''}`),
        kept.map((v) => `${v.id}${v.deleteMarker ? '!' : ''}`),
        `${key}: the snapshot's versions, each once, newest first`,
      );
      const newer = listed.filter((v) => !before.some((b) => b.id === v.id));
      assert.deepEqual(listed.slice(0, newer.length), newer, `${key}: new versions come first`);
      for (const v of newer)
        assert.ok(written.has(`${key}@${v.id}`), `${key}: ${v.id} is a writer's new version`);
      if (!HOT.includes(key)) assert.equal(newer.length, 0, `${key}: a quiet key is unchanged`);
    }
  }

  // A listing of a bucket without delete markers, page by page as "key@id" in listing order,
  // with `between` run after each truncated page.
  async function pagesOf(
    Bucket: string,
    MaxKeys: number,
    between: (page: number) => Promise<void>,
  ) {
    const seen: string[] = [];
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    for (let page = 0; page < 100; page++) {
      const out = await s3.send(
        new ListObjectVersionsCommand({ Bucket, MaxKeys, KeyMarker, VersionIdMarker }),
      );
      const ids = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].map(
        (v) => `${v.Key}@${v.VersionId}`,
      );
      seen.push(...ids);
      if (!out.IsTruncated) return seen;
      KeyMarker = out.NextKeyMarker;
      VersionIdMarker = out.NextVersionIdMarker;
      await between(page);
    }
    assert.fail('the listing ends');
  }

  test('a page that ends on a version deleted by id before the next page resumes after it', async () => {
    const Bucket = 'marker-deleted';
    await s3.send(new CreateBucketCommand({ Bucket }));
    await versioning(Bucket, 'Enabled');
    const mine: Model = new Map([
      ['a', []],
      ['b', []],
    ]);
    for (let i = 0; i < 5; i++) await write(Bucket, 'a', false, mine);
    await write(Bucket, 'b', false, mine);
    const a = (mine.get('a') as ModelVersion[]).map((v) => `a@${v.id}`);
    const seen = await pagesOf(Bucket, 2, async (page) => {
      if (page !== 0) return;
      const [, second] = mine.get('a') as ModelVersion[];
      await s3.send(new DeleteObjectCommand({ Bucket, Key: 'a', VersionId: second.id }));
    });
    // a's two newest on the first page (the second deleted since), then the three older ones.
    assert.deepEqual(seen, [...a, `b@${(mine.get('b') as ModelVersion[])[0].id}`]);
  });

  test('a page that ends on the null version, replaced under Suspended, resumes after its place', async () => {
    const Bucket = 'marker-null';
    await s3.send(new CreateBucketCommand({ Bucket }));
    const mine: Model = new Map([['n', []]]);
    await versioning(Bucket, 'Enabled');
    await write(Bucket, 'n', false, mine);
    await versioning(Bucket, 'Suspended');
    await write(Bucket, 'n', false, mine);
    await versioning(Bucket, 'Enabled');
    await write(Bucket, 'n', false, mine);
    await write(Bucket, 'n', false, mine);
    const [v3, v2, nullVersion, v1] = (mine.get('n') as ModelVersion[]).map((v) => v.id);
    assert.equal(nullVersion, NULL);
    const seen = await pagesOf(Bucket, 3, async () => {
      // The null version the first page ended on is replaced by a new one, the key's newest.
      await versioning(Bucket, 'Suspended');
      await write(Bucket, 'n', false, mine);
    });
    assert.deepEqual(seen, [`n@${v3}`, `n@${v2}`, 'n@null', `n@${v1}`]);
  });

  test('10,000 versions of 100 keys page correctly while other clients write', async () => {
    const bucket = 'paging';
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    // Before versioning: implicit null versions.
    await pool(PRE_VERSIONING, 16, async (key) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${key}#pre` }));
      model.set(key, [{ id: NULL, deleteMarker: false }]);
    });
    const random = randomOf(15);
    const writable = KEYS.filter((k) => !NULL_ONLY.includes(k));
    const total = () => [...model.values()].reduce((n, v) => n + v.length, 0);
    // Rounds over the keys, a barrier between them (so each key's order is the model's): a PUT
    // to most keys in parallel, and every other round a delete marker on every key in one
    // DeleteObjects (several times cheaper per version than a DELETE each).
    const buildUntil = async (versions: number) => {
      for (let round = 0; total() < versions; round++) {
        const keys = writable.filter(() => random(6) !== 0);
        await pool(keys, 24, (key) => write(bucket, key, false, model));
        if (round % 2 === 1) await markAll(bucket, writable);
      }
    };
    await versioning(bucket, 'Enabled');
    await buildUntil(VERSIONS_TARGET * 0.4);
    // Suspended: null versions (and null delete markers), each replacing the key's previous one.
    await versioning(bucket, 'Suspended');
    await pool(SUSPENDED_NULL, 24, async (key) => {
      for (let i = 1 + random(2); i > 0; i--) await write(bucket, key, random(4) === 0, model);
    });
    await versioning(bucket, 'Enabled');
    await buildUntil(VERSIONS_TARGET);
    assert.ok(total() >= VERSIONS_TARGET, `${total()} versions made`);

    const variants = [
      { MaxKeys: 250 },
      { MaxKeys: 97, Delimiter: '/' },
      { MaxKeys: 31, Prefix: 'dir1/', Delimiter: '/' },
      { MaxKeys: 50, Prefix: 'dir2/' },
    ];
    for (const query of variants) {
      const snapshot: Model = new Map([...model].map(([k, v]) => [k, [...v]]));
      const written = new Set<string>();
      const deleted = new Set<string>();
      let listing: Listing | undefined;
      // One writer per key at a time: the model's order of a key's versions is their commit order.
      const busy = new Set<string>();
      const writers = Array.from({ length: 3 }, async (_, w) => {
        const mine = randomOf(100 + w);
        while (listing === undefined) {
          const key = HOT[mine(HOT.length)];
          if (busy.has(key)) continue;
          busy.add(key);
          const versions = model.get(key) as ModelVersion[];
          const victim = versions[1 + mine(versions.length - 1)];
          if (mine(5) === 0 && victim !== undefined && victim.id !== NULL) {
            // An old version deleted by id (never the null: its place is the model's to know).
            deleted.add(`${key}@${victim.id}`);
            await s3.send(
              new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: victim.id }),
            );
            versions.splice(versions.indexOf(victim), 1);
          } else {
            await write(bucket, key, mine(4) === 0, model);
            written.add(`${key}@${versions[0].id}`);
          }
          busy.delete(key);
        }
      });
      const done = listAll(bucket, query, snapshot);
      listing = await done.finally(() => {
        listing ??= { entries: [], prefixes: [] };
      });
      await Promise.all(writers);
      const prefix = query.Prefix ?? '';
      const delimiter = query.Delimiter;
      const under = KEYS.filter((k) => k.startsWith(prefix));
      const cut = (k: string) => {
        const at = delimiter === undefined ? -1 : k.indexOf(delimiter, prefix.length);
        return at < 0 ? undefined : k.slice(0, at + 1);
      };
      const expected = {
        keys: under.filter((k) => cut(k) === undefined),
        prefixes: [...new Set(under.map(cut).filter((p) => p !== undefined))],
      };
      checkListing(listing, snapshot, expected, written, deleted);
      assert.ok(written.size > 0, `the writers wrote during the listing ${JSON.stringify(query)}`);
    }
  });
});
