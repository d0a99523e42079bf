/**
 * The spool: private copies of a queued message's attachments, so that the distributor still finds
 * them when it sends, whatever happened to the originals meanwhile. One folder per message (0700,
 * files 0600) directly inside the spool folder; deleting the message removes it
 * (history.removeSpoolFolders).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { keepFolderOwner } from '../config/paths.js';
import { SysemailError, isSysemailError } from '../core/errors.js';
import type { RawAttachment } from '../core/message.js';
import type { Settings } from '../core/precedence.js';
import { makeFolders } from '../store/folders.js';
import type { StoredAttachment } from '../store/ports.js';

/** queue.spoolDir: by default `spool/` beside the database file (see precedence). */
export function spoolDirOf(settings: Settings): string {
  const dir = settings.string('queue.spoolDir');
  if (!dir)
    throw new SysemailError('config', 'SPOOL_DIR_MISSING', 'queue.spoolDir has no value', {
      fix: 'Set it: `sysemail params set queue.spoolDir DIR`',
    });
  return path.resolve(dir);
}

export function spoolAttachments(spoolDir: string, attachments: readonly RawAttachment[]): { dir: string; stored: StoredAttachment[] } {
  const dir = path.join(spoolDir, randomUUID());
  let createdRoot: string | undefined;
  try {
    createdRoot = makeFolders(spoolDir, 0o700);
    fs.mkdirSync(dir, { mode: 0o700 });
    const stored = attachments.map((a, i) => {
      const target = path.join(dir, `${i + 1}-${path.basename(a.path)}`);
      fs.copyFileSync(a.path, target, fs.constants.COPYFILE_EXCL);
      fs.chmodSync(target, 0o600);
      return {
        filename: a.filename ?? path.basename(a.path),
        path: target,
        size: a.size,
        ...(a.contentType ? { contentType: a.contentType } : {}),
      };
    });
    // root queueing on a service's database: the service must be able to read and remove the copies
    keepFolderOwner(createdRoot ?? dir);
    return { dir, stored };
  } catch (err) {
    fs.rmSync(createdRoot ?? dir, { recursive: true, force: true });
    if (isSysemailError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new SysemailError('ioerr', 'SPOOL_FAILED', `cannot copy the attachments into ${spoolDir} (${code})`, {
      fix: 'Check free space and the permissions of the folder, or choose another one with `sysemail params set queue.spoolDir DIR`',
      cause: err,
    });
  }
}
