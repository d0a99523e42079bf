/**
 * Test certificates, made with the `openssl` command line into a temp folder once per test process.
 *
 *   const pki = testPki();
 *   pki.caFile / pki.ca          the test CA (PEM path / text): trust it with `smtp.caFile` or `tls.ca`
 *   pki.server                   { key, cert } signed by the CA, valid for 127.0.0.1, ::1 and localhost
 *   pki.untrusted                { key, cert } self-signed for the same names (no CA trusts it)
 *   pki.expired                  { key, cert } signed by the CA but expired (valid 2001–2002)
 *   pki.dir                      the folder holding every file (removed when the process exits)
 *
 * Nothing here switches certificate checks off: tests trust the CA instead.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface KeyPair {
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
}

export interface TestPki {
  dir: string;
  ca: string;
  caFile: string;
  server: KeyPair;
  untrusted: KeyPair;
  expired: KeyPair;
}

let cached: TestPki | undefined;

const SAN = 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

function pair(dir: string, name: string): KeyPair {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.crt`);
  return { keyFile, certFile, key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') };
}

function signed(dir: string, name: string, cn: string, dates?: { start: string; end: string }): KeyPair {
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    `${SAN}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
  if (dates) {
    // `openssl x509` cannot backdate; a throwaway CA database with `openssl ca` can
    fs.mkdirSync(path.join(dir, 'ca-db'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'ca-db', 'index.txt'), '');
    fs.writeFileSync(path.join(dir, 'ca-db', 'serial'), '1000\n');
    fs.writeFileSync(
      path.join(dir, 'ca.cnf'),
      `[ca]\ndefault_ca=test\n[test]\ndir=./ca-db\ndatabase=$dir/index.txt\nserial=$dir/serial\nnew_certs_dir=$dir\ncertificate=ca.crt\nprivate_key=ca.key\ndefault_md=sha256\npolicy=any\nemail_in_dn=no\ncopy_extensions=none\n[any]\ncommonName=supplied\n`,
    );
    openssl(dir, [
      'ca',
      '-batch',
      '-config',
      'ca.cnf',
      '-notext',
      '-startdate',
      dates.start,
      '-enddate',
      dates.end,
      '-extfile',
      `${name}.ext`,
      '-in',
      `${name}.csr`,
      '-out',
      `${name}.crt`,
    ]);
  } else {
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ]);
  }
  return pair(dir, name);
}

export function testPki(): TestPki {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysemail-pki-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '30',
    '-subj',
    '/CN=sysemail test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const server = signed(dir, 'server', 'localhost');
  const expired = signed(dir, 'expired', 'localhost', { start: '20010101000000Z', end: '20020101000000Z' });
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'untrusted.key',
    '-out',
    'untrusted.crt',
    '-days',
    '30',
    '-subj',
    '/CN=localhost',
    '-addext',
    SAN,
  ]);
  const untrusted = pair(dir, 'untrusted');
  cached = { dir, ca: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'), caFile: path.join(dir, 'ca.crt'), server, untrusted, expired };
  return cached;
}
