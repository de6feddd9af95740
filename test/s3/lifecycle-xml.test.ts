// LifecycleConfiguration XML: the grammar refused as AWS refuses it (MalformedXML for what its
// schema does not allow, 501 for a transition to a class Strata does not store), and the rules
// rendered back parse to themselves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LifecycleRule } from '../../src/metadata/types.ts';
import { S3Error } from '../../src/s3/errors.ts';
import { parseLifecycleXml, renderRule } from '../../src/s3/handlers/lifecycle-xml.ts';
import { renderXml } from '../../src/s3/xml.ts';

const config = (rules: string) => `<LifecycleConfiguration>${rules}</LifecycleConfiguration>`;
const rule = (body: string) => `<Rule><ID>r</ID><Status>Enabled</Status>${body}</Rule>`;

function refusedWith(xml: string, code: string, status: number) {
  assert.throws(
    () => parseLifecycleXml(xml),
    (e: unknown) => e instanceof S3Error && e.s3Code === code && e.httpStatus === status,
    xml,
  );
}

test('the grammar AWS refuses is refused', () => {
  const expire = '<Expiration><Days>1</Days></Expiration>';
  refusedWith('<Other/>', 'MalformedXML', 400);
  refusedWith(config(''), 'MalformedXML', 400);
  refusedWith(
    config(
      rule(`<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>${expire}`),
    ),
    'MalformedXML',
    400,
  );
  refusedWith(
    config(
      rule(
        `<Filter><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag></Filter>${expire}`,
      ),
    ),
    'MalformedXML',
    400,
  );
  refusedWith(config(rule(`<Filter/><Prefix>a</Prefix>${expire}`)), 'MalformedXML', 400);
  refusedWith(config(rule(`<Filter/><Unknown>1</Unknown>${expire}`)), 'MalformedXML', 400);
  refusedWith(config(`<Rule><ID>r</ID><Filter/>${expire}</Rule>`), 'MalformedXML', 400);
  refusedWith(config(rule('<Filter/><NoncurrentVersionExpiration/>')), 'MalformedXML', 400);
  refusedWith(
    config(rule('<Filter/><Expiration><Days>soon</Days></Expiration>')),
    'InvalidArgument',
    400,
  );
  refusedWith(
    config(rule('<Filter/><Expiration><Date>tomorrow</Date></Expiration>')),
    'InvalidArgument',
    400,
  );
  refusedWith(
    config(
      rule(
        `<Filter><And><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></And></Filter>${expire}`,
      ),
    ),
    'InvalidArgument',
    400,
  );
  refusedWith(
    config(
      rule(
        '<Filter/><Transition><Days>1</Days><StorageClass>ONEZONE_IA</StorageClass></Transition>',
      ),
    ),
    'NotImplemented',
    501,
  );
  refusedWith(
    config(
      rule('<Filter/><Transition><Days>1</Days><StorageClass>NOPE</StorageClass></Transition>'),
    ),
    'InvalidStorageClass',
    400,
  );
  refusedWith(
    config(
      rule(
        `<Filter/>${expire}<NoncurrentVersionTransition><NoncurrentDays>1</NoncurrentDays><StorageClass>ONEZONE_IA</StorageClass></NoncurrentVersionTransition>`,
      ),
    ),
    'NotImplemented',
    501,
  );
});

test('transitions to GLACIER and DEEP_ARCHIVE are parsed and rendered back', () => {
  const parsed = parseLifecycleXml(
    config(
      rule(
        '<Filter/><Transition><Days>3</Days><StorageClass>GLACIER</StorageClass></Transition>' +
          '<Transition><Date>2030-01-01T00:00:00Z</Date><StorageClass>DEEP_ARCHIVE</StorageClass></Transition>' +
          '<NoncurrentVersionTransition><NoncurrentDays>2</NoncurrentDays><StorageClass>DEEP_ARCHIVE</StorageClass></NoncurrentVersionTransition>',
      ),
    ),
  );
  const [r] = parsed.rules;
  assert.deepEqual(r.transitions, [
    { days: 3, storageClass: 'GLACIER' },
    { dateMs: Date.parse('2030-01-01T00:00:00Z'), storageClass: 'DEEP_ARCHIVE' },
  ]);
  assert.deepEqual(r.noncurrentTransitions, [{ noncurrentDays: 2, storageClass: 'DEEP_ARCHIVE' }]);
  const rendered = renderRule(r);
  assert.deepEqual(rendered.Transition, [
    { Days: 3, StorageClass: 'GLACIER' },
    { Date: '2030-01-01T00:00:00.000Z', StorageClass: 'DEEP_ARCHIVE' },
  ]);
});

test('a rule without an ID is given one; whitespace between elements is not an element', () => {
  const parsed = parseLifecycleXml(
    config(
      '\n  <Rule>\n    <Status>Disabled</Status>\n    <Filter>\n    </Filter>\n    <Expiration><Days>3</Days></Expiration>\n  </Rule>\n',
    ),
  );
  assert.equal(parsed.rules.length, 1);
  assert.ok(parsed.rules[0].id.length > 0);
  assert.deepEqual(
    { ...parsed.rules[0], id: '' },
    { id: '', enabled: false, filter: {}, expiration: { days: 3 } },
  );
});

test('rendered rules parse back to themselves', () => {
  const rules: LifecycleRule[] = [
    { id: 'a', enabled: true, filter: { prefix: 'logs/' }, expiration: { days: 30 } },
    {
      id: 'b',
      enabled: false,
      filter: {
        prefix: 'p',
        tags: { t: 'x', u: 'y' },
        sizeGreaterThanBytes: 1,
        sizeLessThanBytes: 9,
      },
      noncurrentExpiration: { noncurrentDays: 4, newerNoncurrentVersions: 2 },
    },
    {
      id: 'c',
      enabled: true,
      filter: { tags: { t: 'x' } },
      expiration: { dateMs: Date.UTC(2030, 0, 1) },
    },
    {
      id: 'd',
      enabled: true,
      filter: { prefix: 'old/' },
      legacyPrefix: true,
      expiration: { expiredObjectDeleteMarker: true },
    },
    { id: 'e', enabled: true, filter: { sizeLessThanBytes: 10 }, abortIncompleteUploadDays: 2 },
    { id: 'f', enabled: true, filter: {}, abortIncompleteUploadDays: 1 },
    {
      id: 'g',
      enabled: true,
      filter: {},
      transitions: [{ days: 30, storageClass: 'STANDARD_IA' }],
      noncurrentTransitions: [
        { noncurrentDays: 30, storageClass: 'STANDARD_IA' },
        { noncurrentDays: 60, storageClass: 'GLACIER', newerNoncurrentVersions: 3 },
      ],
    },
  ];
  const xml = renderXml('LifecycleConfiguration', { Rule: rules.map(renderRule) });
  assert.deepEqual(parseLifecycleXml(xml).rules, rules);
});
