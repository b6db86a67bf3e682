// The XML shapes of the S3 API: building response bodies and parsing the few request bodies
// (DeleteObjects, CompleteMultipartUpload, configurations) with size limits.
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { S3Error } from './errors.js';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: false,
  processEntities: true,
});

/** Undefined fields are dropped; arrays become repeated elements, as S3 lists them. */
export function toXml(root: string, body: Record<string, unknown>, namespace = true): string {
  const content = namespace ? { '@_xmlns': S3_NS, ...body } : body;
  return DECL + builder.build({ [root]: content });
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  isArray: (name) => ['Object', 'Part', 'Tag', 'CORSRule', 'Rule', 'AllowedMethod', 'AllowedOrigin', 'AllowedHeader', 'ExposeHeader'].includes(name),
});

/** Parses a request document; anything that is not well-formed XML is MalformedXML. */
export function parseXml(data: Buffer): Record<string, any> {
  const text = data.toString('utf8');
  if (!text.trim()) throw new S3Error('MalformedXML');
  try {
    return parser.parse(text, true) as Record<string, any>;
  } catch {
    throw new S3Error('MalformedXML');
  }
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}
