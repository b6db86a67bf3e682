// The POST policy: AWS's SigV4 POST example as a test vector for the signature, and the policy
// language (decode errors, conditions, coverage) as S3 answers it.
import { describe, expect, it } from 'vitest';
import { hmacHex, signingKeyFor } from '../../src/s3/auth/sigv4.js';
import { checkCoverage, checkPolicy, decodePolicy } from '../../src/s3/post-policy.js';

// Developer guide sigv4-post-example: the policy (base64, CRLF line ends), the example
// credentials, and the signature the page states.
const AWS_POLICY = 'eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9';

function b64(doc: unknown): string {
  return Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)).toString('base64');
}

describe("AWS's SigV4 POST example", () => {
  it('signs to the stated signature', () => {
    const key = signingKeyFor('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '20151229', 'us-east-1');
    expect(hmacHex(key, AWS_POLICY)).toBe('8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e');
  });

  it('its form passes the policy before expiry, with ${filename} expanded', () => {
    const policy = decodePolicy(AWS_POLICY);
    const fields = new Map(Object.entries({
      key: 'user/user1/MyPicture.jpg',
      acl: 'public-read',
      success_action_redirect: 'http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html',
      'content-type': 'image/jpeg',
      'x-amz-meta-uuid': '14365123651274',
      'x-amz-server-side-encryption': 'AES256',
      'x-amz-credential': 'AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request',
      'x-amz-algorithm': 'AWS4-HMAC-SHA256',
      'x-amz-date': '20151229T000000Z',
      'x-amz-meta-tag': '',
    }));
    expect(checkPolicy(policy, { bucket: 'sigv4examplebucket', fields, now: Date.parse('2015-12-29T10:00:00Z') })).toBeUndefined();
    checkCoverage(policy, ['key', 'acl', 'success_action_redirect', 'Content-Type', 'x-amz-meta-uuid', 'x-amz-server-side-encryption', 'X-Amz-Credential', 'X-Amz-Algorithm', 'X-Amz-Date', 'x-amz-meta-tag', 'Policy', 'X-Amz-Signature']);
    expect(() => checkPolicy(policy, { bucket: 'sigv4examplebucket', fields, now: Date.parse('2015-12-30T12:00:01Z') })).toThrow('Invalid according to Policy: Policy expired.');
    expect(() => checkPolicy(policy, { bucket: 'other', fields, now: Date.parse('2015-12-29T10:00:00Z') })).toThrow('Policy Condition failed: ["eq", "$bucket", "sigv4examplebucket"]');
    expect(() => checkCoverage(policy, ['key', 'Filename'])).toThrow('Invalid according to Policy: Extra input fields: Filename');
  });
});

describe('the policy language', () => {
  const exp = '2099-01-01T00:00:00Z';
  const now = Date.parse('2030-01-01T00:00:00Z');

  it('documents S3 would not read are InvalidPolicyDocument with its messages', () => {
    const cases: [string, string][] = [
      ['not base64 !', 'Invalid Policy: invalid Base64 encoding.'],
      [b64('{"expiration": '), 'Invalid Policy: Invalid JSON.'],
      [b64({ conditions: [] }), 'Invalid Policy: Policy missing expiration.'],
      [b64({ expiration: exp }), 'Invalid Policy: Policy missing conditions.'],
      [b64({ EXPIRATION: exp, conditions: [] }), "Invalid Policy: Unexpected: 'expiration'"],
      [b64({ expiration: '2011-09-13T07:52:58+02:00', conditions: [] }), "Invalid Policy: Invalid 'expiration' value: '2011-09-13T07:52:58+02:00'"],
      [b64({ expiration: exp, conditions: {} }), "Invalid Policy: Invalid 'conditions' value: must be a List."],
      [b64({ expiration: exp, conditions: [{}] }), 'Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.'],
      [b64({ expiration: exp, conditions: [{ 'Content-Length': 5 }] }), 'Invalid Policy: Invalid Simple-Condition: value must be a string.'],
      [b64({ expiration: exp, conditions: [[]] }), 'Invalid Policy: Invalid Condition: missing operation identifier.'],
      [b64({ expiration: exp, conditions: [['in', '$key', 'a']] }), "Invalid Policy: Invalid Condition: unknown operation 'in'."],
      [b64({ expiration: exp, conditions: [['content-length-range', 0]] }), 'Invalid Policy: Invalid content-length-range: wrong number of arguments.'],
      [b64({ expiration: exp, conditions: ['key'] }), 'Invalid Policy: Invalid condition test: must be a List or Object.'],
    ];
    for (const [policy, message] of cases) {
      let err: { code?: string; status?: number; message?: string } = {};
      try {
        decodePolicy(policy);
      } catch (e) {
        err = e as typeof err;
      }
      expect([err.code, err.status, err.message]).toEqual(['InvalidPolicyDocument', 400, message]);
    }
  });

  it('names are case-insensitive, values case-sensitive; an absent field fails even starts-with ""; Content-Type lists', () => {
    const policy = decodePolicy(b64({ expiration: exp, conditions: [['StArTs-WiTh', '$Content-Type', 'image/'], { BuCkEt: 'b' }, ['starts-with', '$x-amz-meta-tag', '']] }));
    const fields = (f: Record<string, string>) => new Map(Object.entries(f));
    expect(checkPolicy(policy, { bucket: 'b', fields: fields({ 'content-type': 'image/png, image/gif', 'x-amz-meta-tag': '' }), now })).toBeUndefined();
    expect(() => checkPolicy(policy, { bucket: 'b', fields: fields({ 'content-type': 'image/png,text/plain', 'x-amz-meta-tag': '' }), now })).toThrow('Policy Condition failed: ["StArTs-WiTh", "$Content-Type", "image/"]');
    expect(() => checkPolicy(policy, { bucket: 'B', fields: fields({ 'content-type': 'image/png', 'x-amz-meta-tag': '' }), now })).toThrow('Policy Condition failed: ["eq", "$BuCkEt", "b"]');
    expect(() => checkPolicy(policy, { bucket: 'b', fields: fields({ 'content-type': 'image/png' }), now })).toThrow('Policy Condition failed: ["starts-with", "$x-amz-meta-tag", ""]');
    expect(() => checkCoverage(policy, ['CONTENT-TYPE', 'bucket', 'x-ignore-me', 'file', 'policy', 'x-amz-signature', 'X-Amz-Meta-Tag'])).not.toThrow();
  });

  it('content-length-range: numbers or numeric strings, intersected; other operands fail the condition (403)', () => {
    const policy = decodePolicy(b64({ expiration: exp, conditions: [['content-length-range', '5', 100], ['content-length-range', 0, 10]] }));
    expect(checkPolicy(policy, { bucket: 'b', fields: new Map(), now })).toEqual({ min: 5, max: 10 });
    const bad = decodePolicy(b64({ expiration: exp, conditions: [['content-length-range', 'test', '10']] }));
    expect(() => checkPolicy(bad, { bucket: 'b', fields: new Map(), now })).toThrow('Invalid according to Policy: Policy Condition failed: ["content-length-range", "test", "10"]');
    expect(() => decodePolicy(b64({ expiration: exp, conditions: [['content-length-range', -1, 0]] }))).toThrow('Invalid Policy');
  });

  it('a condition whose field has no `$` never matches', () => {
    const policy = decodePolicy(b64({ expiration: exp, conditions: [['eq', 'key', 'k']] }));
    expect(() => checkPolicy(policy, { bucket: 'b', fields: new Map([['key', 'k']]), now })).toThrow('Policy Condition failed: ["eq", "key", "k"]');
  });
});
