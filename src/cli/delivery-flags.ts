/** The flags `send` and `notify` share for a queued message: --idempotency-key, --at, --in, --expires, --priority. */
import { checkIdempotencyKey, parsePriority } from '../core/delivery.js';
import type { DeliveryRequest } from '../app/delivery.js';

export interface DeliveryFlags {
  idempotencyKey?: string;
  at?: string;
  in?: string;
  expires?: string;
  priority?: string;
}

/** Checks the forms that need no clock (key, priority); the times are checked by the use case against its clock. */
export function deliveryFlags(flags: DeliveryFlags): DeliveryRequest {
  const when = {
    ...(flags.at !== undefined ? { at: flags.at } : {}),
    ...(flags.in !== undefined ? { in: flags.in } : {}),
    ...(flags.expires !== undefined ? { expires: flags.expires } : {}),
  };
  return {
    ...(Object.keys(when).length > 0 ? { when } : {}),
    ...(flags.priority !== undefined ? { priority: parsePriority(flags.priority, '--priority') } : {}),
    ...(flags.idempotencyKey !== undefined ? { idempotencyKey: checkIdempotencyKey(flags.idempotencyKey, '--idempotency-key') } : {}),
  };
}
