/** The dkim_keys row, mapped once for both stores (the columns are the same on SQLite and PostgreSQL). */
import type { DkimAlgorithm, DkimKeyRow, DkimKeySource } from '../core/dkim.js';

export interface DkimKeyDbRow {
  domain: string;
  selector: string;
  algorithm: string;
  source: string;
  location: string | null;
  public_key: string;
  created_at: number;
  updated_at: number;
}

export function toDkimKeyRow(r: DkimKeyDbRow): DkimKeyRow {
  return {
    domain: r.domain,
    selector: r.selector,
    algorithm: r.algorithm as DkimAlgorithm,
    source: r.source as DkimKeySource,
    location: r.location,
    publicKey: r.public_key,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
