/** The message types where the distributor and the tests import them (see ./ports.ts), and the body threshold. */
export { BODY_APART_CHARS } from './sqlite/rows.js';
export type { AttemptRow, MessageRow, MessageStatus, NewAttempt, NewMessage, StoredAttachment } from './ports.js';
