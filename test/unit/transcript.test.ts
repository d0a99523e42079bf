import { describe, expect, it } from 'vitest';
import { SmtpTranscript, countLines, transcriptLogger } from '../../src/providers/smtp/transcript.js';

function transcript(implicitTls = false): { t: SmtpTranscript; lines: string[] } {
  const lines: string[] = [];
  return { t: new SmtpTranscript((l) => lines.push(l), { implicitTls }), lines };
}

describe('SMTP transcript', () => {
  it('arrows change once TLS is up', () => {
    const { t, lines } = transcript();
    t.server('220 mx ESMTP');
    t.client('EHLO host');
    t.secured('STARTTLS');
    t.client('EHLO host');
    t.server('250-mx\n250 AUTH PLAIN');
    expect(lines).toEqual([
      '<- 220 mx ESMTP',
      '-> EHLO host',
      '=== TLS started: STARTTLS',
      '~> EHLO host',
      '<~ 250-mx',
      '<~ 250 AUTH PLAIN',
    ]);
  });

  it('hides every AUTH payload: PLAIN inline, LOGIN continuations, XOAUTH2 token', () => {
    const { t, lines } = transcript(true);
    t.client('AUTH PLAIN AGFubgBzM2NyM3Q=');
    t.server('235 2.7.0 Authentication successful');
    t.client('AUTH LOGIN');
    t.server('334 VXNlcm5hbWU6');
    t.client('YW5u');
    t.server('334 UGFzc3dvcmQ6');
    t.client('czNjcjN0');
    t.server('235 ok');
    t.client('AUTH XOAUTH2 dXNlcj1hbm4BYXV0aD1CZWFyZXIgZXlKMGVYQWlPaUpLVjFRaUxDSmhiR2NpT2lKU1V6STFOaUo5AQE=');
    t.server('334 eyJzdGF0dXMiOiI0MDEifQ==');
    t.client('');
    t.server('535 5.7.3 Authentication unsuccessful');
    t.client('MAIL FROM:<ann@example.com>');
    expect(lines).toEqual([
      '~> AUTH PLAIN ****',
      '<~ 235 2.7.0 Authentication successful',
      '~> AUTH LOGIN',
      '<~ 334 VXNlcm5hbWU6',
      '~> ****',
      '<~ 334 UGFzc3dvcmQ6',
      '~> ****',
      '<~ 235 ok',
      '~> AUTH XOAUTH2 ****',
      '<~ 334 eyJzdGF0dXMiOiI0MDEifQ==',
      '~> ****',
      '<~ 535 5.7.3 Authentication unsuccessful',
      '~> MAIL FROM:<ann@example.com>',
    ]);
    expect(lines.join('\n')).not.toMatch(/AGFubgBzM2NyM3Q|czNjcjN0|YW5u\b|dXNlcj1hbm4/);
  });

  it('a hostile reply cannot put control characters or a huge line on the terminal', () => {
    const { t, lines } = transcript();
    t.server(`250 ok\x1b[2J\x07${'x'.repeat(5000)}`);
    expect(lines[0]).toContain('\\x1b[2J\\x07');
    expect(lines[0].length).toBeLessThan(420);
  });

  it('the message body is a count of its lines, taken from the logger', () => {
    const lines: string[] = [];
    const log = transcriptLogger((l) => lines.push(l), { implicitTls: true });
    log.expectBody(12);
    log.logger.info({ tnx: 'message', sid: 'a', outByteCount: 345 }, '<%s bytes encoded mime message (source size %s bytes)>', 345, 340);
    expect(lines).toEqual(['~> [message body: 12 lines, 345 bytes, not shown]', '~> .']);
    expect(countLines(Buffer.from('a\r\nb\r\nc'))).toBe(3);
    expect(countLines(Buffer.from('a\r\nb\r\n'))).toBe(2);
  });
});
