// XML in and out through fast-xml-parser: user data is escaped by the builder, never concatenated.
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { S3Error } from './errors.ts';

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: false,
});

// The same output, for documents whose children must keep an order across element names.
const orderedBuilder = new XMLBuilder({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: false,
});

// Elements that may repeat, read as arrays even when there is one.
const ARRAY_ELEMENTS = [
  'Part',
  'Object',
  'Tag',
  'CORSRule',
  'AllowedOrigin',
  'AllowedMethod',
  'AllowedHeader',
  'ExposeHeader',
];

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  // Values are taken byte for byte: keys " " and "_ " are objects of their own, and so are tags
  // with spaces. Whitespace between elements comes out as '#text', which nothing reads.
  trimValues: false,
  isArray: (name) => ARRAY_ELEMENTS.includes(name),
  processEntities: true,
  // Numeric character references (&#34;) too: Go's encoder writes every quote in an ETag that
  // way, so rclone's and minio-go's CompleteMultipartUpload bodies depend on it.
  htmlEntities: true,
});

export function renderXml(root: string, body: Record<string, unknown>): string {
  return renderPlainXml(root, { '@_xmlns': S3_XMLNS, ...body });
}

// A carriage return in a value (a key may hold one) goes out as a character reference: a literal
// one would reach the client as "\n", since XML parsers normalise line ends (XML 1.0, 2.11).
// The builder writes no CR of its own, so every CR in its output comes from a value.
export function renderPlainXml(root: string, body: Record<string, unknown>): string {
  const xml = builder.build({ [root]: body }) as string;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml.replaceAll('\r', '&#13;')}`;
}

// A document whose children are given in order as [name, value] pairs, for repeated elements of
// different names that interleave: ListObjectVersions sends Version and DeleteMarker in key
// order, mixed, as AWS does (the Java SDK v1 and raw-XML readers keep them as one list). Values
// as renderXml takes them: scalars, objects (children in insertion order), arrays (repeated).
export function renderXmlInOrder(root: string, children: Array<[string, unknown]>): string {
  const document = [
    { [root]: children.flatMap(([name, value]) => ordered(name, value)), ':@': xmlns },
  ];
  const xml = orderedBuilder.build(document) as string;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${xml.replaceAll('\r', '&#13;')}`;
}

const xmlns = { '@_xmlns': S3_XMLNS };

function ordered(name: string, value: unknown): Array<Record<string, unknown>> {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((item) => ordered(name, item));
  if (typeof value === 'object' && value !== null)
    return [{ [name]: Object.entries(value).flatMap(([child, v]) => ordered(child, v)) }];
  return [{ [name]: [{ '#text': value }] }];
}

// The S3 error body. AWS sends it without a namespace; HEAD and 304 responses carry none at all.
export function renderErrorXml(error: S3Error, resource: string, requestId: string): string {
  return renderPlainXml('Error', {
    Code: error.s3Code,
    Message: error.message,
    Resource: resource,
    RequestId: requestId,
  });
}

export function parseXml(text: string): Record<string, any> {
  try {
    // S3 request bodies never carry a DTD; refusing one rules out entity tricks entirely.
    if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new Error('DTDs are not accepted');
    const parsed = parser.parse(text, true) as Record<string, any>;
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an element');
    return parsed;
  } catch {
    throw new S3Error(
      'MalformedXML',
      400,
      'The XML you provided was not well-formed or did not validate against our published schema.',
    );
  }
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '.000Z');
}
