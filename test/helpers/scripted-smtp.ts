/**
 * A plain `net` server on 127.0.0.1 that plays a misbehaving SMTP server, for the faults a real SMTP
 * server library will not produce: a reply that never ends, STARTTLS answered 454, a server that
 * accepts the connection and never says a word.
 *
 *   const s = await startScriptedSmtp({ ehlo: 'trickle' });
 *   ... s.port, s.connections, s.lines (what clients sent) ...
 *   await s.close();
 *
 * Options:
 *   greeting   the 220 line, or null to stay silent after accepting (default '220 scripted ESMTP')
 *   ehlo       'trickle': answer EHLO with one `250-` line every `trickleMs`, for ever;
 *              a string array: the EHLO reply lines (default: 250-PIPELINING, 250-STARTTLS, 250 8BITMIME)
 *   starttls   the reply to STARTTLS (default '454 4.7.0 TLS not available due to local problem')
 *   trickleMs  pause between trickled lines (default 200)
 *   transaction  accept MAIL, RCPT and DATA (else they get 503); `dropAfterDot: N` closes the
 *              connection without a word after the final dot of the first N messages, the later
 *              ones get 250. Received messages (their lines, unstuffed) are in `messages`.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ScriptedSmtpOptions {
  greeting?: string | null;
  ehlo?: 'trickle' | string[];
  starttls?: string;
  trickleMs?: number;
  transaction?: { dropAfterDot?: number };
}

export interface ScriptedSmtp {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections still open. */
  readonly open: number;
  /** Command lines received, in order. */
  lines: string[];
  /** Messages received after DATA (answered or not), each as its lines joined with CRLF. */
  messages: string[];
  close(): Promise<void>;
}

export async function startScriptedSmtp(options: ScriptedSmtpOptions = {}): Promise<ScriptedSmtp> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const lines: string[] = [];
  const messages: string[] = [];
  let dropsLeft = options.transaction?.dropAfterDot ?? 0;
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const greeting = options.greeting === undefined ? '220 scripted ESMTP' : options.greeting;
    if (greeting !== null) socket.write(`${greeting}\r\n`);
    let buffered = '';
    let body: string[] | undefined;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let at: number;
      while ((at = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, at).replace(/\r$/, '');
        buffered = buffered.slice(at + 1);
        if (body) {
          if (line !== '.') {
            body.push(line.startsWith('..') ? line.slice(1) : line);
            continue;
          }
          messages.push(body.join('\r\n'));
          body = undefined;
          if (dropsLeft > 0) {
            dropsLeft--;
            socket.destroy();
            return;
          }
          socket.write('250 2.0.0 Ok: queued\r\n');
          continue;
        }
        lines.push(line);
        const verb = line.split(' ')[0].toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') {
          if (options.ehlo === 'trickle') {
            let n = 0;
            const timer = setInterval(() => {
              if (socket.destroyed) {
                clearInterval(timer);
                timers.delete(timer);
                return;
              }
              socket.write(`250-trickle line ${++n}\r\n`);
            }, options.trickleMs ?? 200);
            timers.add(timer);
          } else {
            const reply = options.ehlo ?? ['250-scripted', '250-PIPELINING', '250-STARTTLS', '250 8BITMIME'];
            socket.write(reply.map((l) => `${l}\r\n`).join(''));
          }
        } else if (verb === 'STARTTLS') {
          socket.write(`${options.starttls ?? '454 4.7.0 TLS not available due to local problem'}\r\n`);
        } else if (verb === 'QUIT') {
          socket.end('221 2.0.0 Bye\r\n');
        } else if (options.transaction && (verb === 'MAIL' || verb === 'RCPT')) {
          socket.write('250 2.1.0 Ok\r\n');
        } else if (options.transaction && verb === 'DATA') {
          body = [];
          socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (verb === 'RSET' || verb === 'NOOP') {
          socket.write('250 2.0.0 OK\r\n');
        } else {
          socket.write('503 5.5.1 Bad sequence of commands\r\n');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    lines,
    messages,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
