/**
 * The sender-domain findings of `diagnose sender` and `diagnose --bulk`: what each one means and what
 * to do, as the diagnosis catalogue does for failed sends. A check names its finding in `diagnosis`;
 * `npm run docs` writes this list into docs/diagnosis.md.
 */

export const SENDER_FINDING_IDS = [
  'DOMAIN_NOT_FOUND',
  'MX_MISSING',
  'MX_NULL',
  'MX_UNRESOLVABLE',
  'SPF_MISSING',
  'SPF_MULTIPLE',
  'SPF_SYNTAX',
  'SPF_TOO_MANY_LOOKUPS',
  'SPF_VOID_LOOKUPS',
  'SPF_PLUS_ALL',
  'SPF_NEUTRAL_ALL',
  'SPF_NO_ALL',
  'SPF_SERVER_NOT_ALLOWED',
  'SPF_DNS_ERROR',
  'DKIM_NO_SELECTOR',
  'DKIM_RECORD_MISSING',
  'DKIM_RECORD_INVALID',
  'DKIM_KEY_REVOKED',
  'DKIM_KEY_WEAK',
  'DKIM_KEY_MISMATCH',
  'DKIM_TESTING',
  'DMARC_MISSING',
  'DMARC_INVALID',
  'DMARC_MULTIPLE',
  'DMARC_POLICY_NONE',
  'DMARC_PCT_PARTIAL',
  'DMARC_NO_RUA',
  'DMARC_NOT_ALIGNED',
  'MTA_STS_INVALID',
  'TLS_RPT_INVALID',
  'BULK_SPF_AND_DKIM',
  'BULK_DMARC',
  'BULK_FROM_ALIGNED',
  'BULK_REVERSE_DNS',
  'BULK_TLS',
  'BULK_ONE_CLICK_UNSUBSCRIBE',
  'BULK_MESSAGE_FORMAT',
  'BULK_SPAM_RATE',
] as const;

export type SenderFindingId = (typeof SENDER_FINDING_IDS)[number];

export interface SenderFinding {
  readonly id: SenderFindingId;
  readonly title: string;
  readonly explanation: string;
  readonly fix: string;
  /** For the bulk-sender rules: the providers' published guidelines this rule comes from. */
  readonly rule?: string;
}

/** The guidelines the bulk-sender rules cite. */
export const GUIDELINES = {
  gmail: 'Google, "Email sender guidelines" (support.google.com/a/answer/81126), in force for bulk senders since February 2024',
  yahoo: 'Yahoo, "Sender Best Practices" (senders.yahooinc.com/best-practices), February 2024',
  outlook:
    'Microsoft, "Strengthening Email Ecosystem: Outlook\'s New Requirements for High-Volume Senders" (techcommunity.microsoft.com, April 2025), enforced from May 5, 2025 with 550 5.7.515',
} as const;

const ALL_THREE = `${GUIDELINES.gmail}; ${GUIDELINES.yahoo}; ${GUIDELINES.outlook}`;
const GMAIL_YAHOO = `${GUIDELINES.gmail}; ${GUIDELINES.yahoo}`;

const SPF_RECORD_HINT = "v=spf1 include:<your provider's SPF domain> -all";

export const senderFindings: readonly SenderFinding[] = [
  {
    id: 'DOMAIN_NOT_FOUND',
    title: 'The sender domain does not exist in DNS',
    explanation:
      'The DNS answers that the domain does not exist (NXDOMAIN). Receivers refuse mail from a domain that does not exist, and none of its records (SPF, DKIM, DMARC) can be found.',
    fix: 'Check the spelling of the domain (and of sender.default: `sysemail params get sender.default`), or register and publish the domain.',
  },
  {
    id: 'MX_MISSING',
    title: 'The sender domain has no MX record',
    explanation:
      'Nothing receives mail for the domain: bounces and replies to the sender address have nowhere to go, and many receivers treat a From domain that cannot receive mail as a sign of spam.',
    fix: 'Publish an MX record naming the server that receives mail for the domain (your mail host tells you which), e.g. `example.com. MX 10 mail.example.com.`',
  },
  {
    id: 'MX_NULL',
    title: 'The sender domain declares it takes no mail (null MX)',
    explanation:
      'The domain publishes the null MX (`MX 0 .`, RFC 7505): it announces that it neither receives nor sends mail. Receivers may refuse mail whose sender is at such a domain.',
    fix: 'Send from a domain that receives mail, or replace the null MX with the MX of your mail host.',
  },
  {
    id: 'MX_UNRESOLVABLE',
    title: 'An MX host of the sender domain does not resolve',
    explanation:
      'The MX record names a host that has no A or AAAA address, so mail to the domain (bounces, replies) cannot be delivered there.',
    fix: 'Correct the MX record to a host name that resolves, or publish the address of the host it names.',
  },
  {
    id: 'SPF_MISSING',
    title: 'No SPF record',
    explanation:
      'The domain publishes no SPF record (a TXT record starting with "v=spf1"), so a receiver cannot tell which servers may send its mail. Gmail, Yahoo and Outlook.com junk or refuse such mail.',
    fix: `Publish one TXT record on the domain listing your sending servers, e.g. \`${SPF_RECORD_HINT}\`.`,
  },
  {
    id: 'SPF_MULTIPLE',
    title: 'More than one SPF record',
    explanation:
      'The domain publishes several TXT records starting with "v=spf1". RFC 7208 allows one: with two, every receiver gets a permanent error (permerror) and SPF fails for all mail of the domain.',
    fix: 'Merge them into one record: keep one "v=spf1", put every include:/ip4:/a/mx term of both in it, end it with one "-all" or "~all", and delete the other record.',
  },
  {
    id: 'SPF_SYNTAX',
    title: 'The SPF record is malformed',
    explanation:
      'A term of the SPF record (or of a record it includes) is not valid SPF; receivers then give a permanent error (permerror) and SPF fails.',
    fix: 'Correct the term the detail names (RFC 7208 section 12 has the grammar) and check again with `sysemail diagnose sender DOMAIN`.',
  },
  {
    id: 'SPF_TOO_MANY_LOOKUPS',
    title: 'The SPF record needs more than 10 DNS lookups',
    explanation:
      'Every include:, a, mx, ptr, exists: and redirect= costs a DNS lookup, counted through all included records. RFC 7208 stops at 10: past that, receivers give a permanent error (permerror) and SPF fails.',
    fix: 'Remove includes you no longer use, replace a and mx by the ip4:/ip6: ranges they stand for, and do not include a provider twice, until the count is 10 or less.',
  },
  {
    id: 'SPF_VOID_LOOKUPS',
    title: 'SPF lookups that find nothing',
    explanation:
      'Terms of the SPF record name domains that do not exist or have no record of the type asked. RFC 7208 allows two such void lookups; past that receivers give a permanent error, and each one is a term that allows nothing.',
    fix: 'Remove or correct the terms the detail names (an include: of a provider you left, an a:/mx: host that is gone).',
  },
  {
    id: 'SPF_PLUS_ALL',
    title: 'SPF allows every server on the Internet (+all)',
    explanation:
      'The record ends with "+all" (or a bare "all"): any server may send as the domain, which makes SPF worthless and marks the domain for spammers and filters.',
    fix: 'End the record with "-all" (or "~all" while you check the list of your servers).',
  },
  {
    id: 'SPF_NEUTRAL_ALL',
    title: 'SPF says nothing about other servers (?all)',
    explanation:
      'The record ends with "?all": mail from servers not listed gets a neutral result, which receivers treat like no SPF at all.',
    fix: 'End the record with "-all" (refuse) or "~all" (soft fail) once every sending server is listed.',
  },
  {
    id: 'SPF_NO_ALL',
    title: 'The SPF record has no final "all"',
    explanation: 'Without "-all", "~all" or a redirect=, a server not listed gets a neutral result, as with "?all".',
    fix: 'End the record with "-all" or "~all".',
  },
  {
    id: 'SPF_SERVER_NOT_ALLOWED',
    title: 'The configured SMTP server is not allowed by SPF',
    explanation:
      "The addresses of smtp.host do not pass the domain's SPF record, so receivers see mail that sysemail hands to that server as not authorised, unless the server relays it on from other addresses that are listed.",
    fix: "Add the server to the SPF record: the provider's include: (e.g. include:spf.protection.outlook.com for Microsoft 365, include:_spf.google.com for Google Workspace) or its ip4:/ip6: addresses.",
  },
  {
    id: 'SPF_DNS_ERROR',
    title: 'The SPF record could not be read',
    explanation:
      'A DNS lookup needed for SPF failed (server failure or timeout). Receivers meeting the same failure give a temporary error and may defer or junk the mail.',
    fix: "Check the domain's name servers (every one should answer), then run the check again.",
  },
  {
    id: 'DKIM_NO_SELECTOR',
    title: 'No DKIM selector to check',
    explanation:
      'A DKIM key is found at SELECTOR._domainkey.DOMAIN, and no selector was given or registered for this domain, so the DKIM record cannot be checked.',
    fix: 'Name the selector: `sysemail diagnose sender DOMAIN --selector S` (the s= of a DKIM-Signature header in a message you sent).',
  },
  {
    id: 'DKIM_RECORD_MISSING',
    title: 'The DKIM key record is missing',
    explanation:
      'No TXT record is published at SELECTOR._domainkey.DOMAIN, so receivers cannot verify signatures made with this selector and treat the mail as unsigned.',
    fix: 'Publish the key record your signing key belongs to at SELECTOR._domainkey.DOMAIN (a TXT record "v=DKIM1; k=rsa; p=...").',
  },
  {
    id: 'DKIM_RECORD_INVALID',
    title: 'The DKIM key record is malformed',
    explanation:
      'The TXT record at SELECTOR._domainkey.DOMAIN is not a valid DKIM key record (RFC 6376 3.6.1), so no signature with this selector verifies.',
    fix: 'Publish the record again exactly as made (a missing quote or a line break inside p= is the usual cause): "v=DKIM1; k=rsa; p=<base64 key>".',
  },
  {
    id: 'DKIM_KEY_REVOKED',
    title: 'The DKIM key is revoked',
    explanation: 'The key record has an empty p=, which revokes the key: signatures made with this selector fail.',
    fix: 'Sign with a selector whose key is published, or publish the public key of this selector again.',
  },
  {
    id: 'DKIM_KEY_WEAK',
    title: 'The DKIM RSA key is too short',
    explanation:
      'RSA keys shorter than 1024 bits are refused by receivers (RFC 8301), and 2048 bits is what Gmail and Outlook.com recommend.',
    fix: 'Make a 2048-bit key, publish it under a new selector, switch signing to it, then remove the old record.',
  },
  {
    id: 'DKIM_KEY_MISMATCH',
    title: 'The published DKIM key is not the key sysemail signs with',
    explanation:
      'The record at SELECTOR._domainkey.DOMAIN holds another public key than the one registered for signing, so every signature sysemail makes with this selector fails verification.',
    fix: 'Publish the record that belongs to the registered key (`sysemail dkim list` shows the domain and selector), or register the key the record belongs to.',
  },
  {
    id: 'DKIM_TESTING',
    title: 'The DKIM key is in test mode (t=y)',
    explanation: 'With t=y a receiver treats failed signatures as if the mail were unsigned: a way to try DKIM out, not to run it.',
    fix: 'Remove t=y from the key record once signatures verify.',
  },
  {
    id: 'DMARC_MISSING',
    title: 'No DMARC record',
    explanation:
      'Neither the domain nor its organisational domain publishes a DMARC record at _dmarc. Gmail and Yahoo (since February 2024) and Outlook.com (since May 2025) require one from bulk senders.',
    fix: 'Publish a TXT record at _dmarc.DOMAIN, starting with monitoring: "v=DMARC1; p=none; rua=mailto:dmarc-reports@DOMAIN".',
  },
  {
    id: 'DMARC_INVALID',
    title: 'The DMARC record is malformed',
    explanation: 'The record at _dmarc is not valid DMARC (RFC 7489 6.3), so receivers ignore it as if there were none.',
    fix: 'Correct it to the form "v=DMARC1; p=none|quarantine|reject; rua=mailto:ADDR" (v= first, tags separated by semicolons).',
  },
  {
    id: 'DMARC_MULTIPLE',
    title: 'More than one DMARC record',
    explanation: 'Several TXT records at _dmarc start with "v=DMARC1"; receivers then apply no DMARC policy at all.',
    fix: 'Keep one DMARC record and delete the others.',
  },
  {
    id: 'DMARC_POLICY_NONE',
    title: 'DMARC only monitors (p=none)',
    explanation:
      'p=none asks receivers to deliver mail that fails DMARC as usual and only to report it. It meets the bulk-sender minimum, but anyone may still send mail as the domain.',
    fix: 'Once the aggregate reports show your own mail passing, move to p=quarantine, then p=reject.',
  },
  {
    id: 'DMARC_PCT_PARTIAL',
    title: 'The DMARC policy applies to part of the mail only (pct below 100)',
    explanation: 'pct= below 100 applies the policy to that share of failing mail only; the rest is treated as with p=none.',
    fix: 'Raise pct to 100 (or remove it) once the reports show your mail passing.',
  },
  {
    id: 'DMARC_NO_RUA',
    title: 'DMARC sends no reports (no rua=)',
    explanation:
      'Without rua= no receiver sends aggregate reports, so you cannot see which servers send as the domain or whether your own mail passes.',
    fix: 'Add rua=mailto:ADDR (a mailbox or a DMARC report service) to the DMARC record.',
  },
  {
    id: 'DMARC_NOT_ALIGNED',
    title: 'Mail from this configuration fails DMARC alignment',
    explanation:
      'DMARC passes only when SPF passes for a domain aligned with the From domain or a DKIM signature verifies for an aligned d= domain. With the configured server and keys, neither is the case, so receivers apply the DMARC policy to every message.',
    fix: 'Sign with a DKIM key of the From domain (or its organisational domain with relaxed alignment), or allow smtp.host in the SPF record of the From domain.',
  },
  {
    id: 'MTA_STS_INVALID',
    title: 'The MTA-STS record is malformed',
    explanation: 'The TXT record at _mta-sts is not "v=STSv1; id=...", so senders ignore the domain\'s MTA-STS policy.',
    fix: 'Publish "v=STSv1; id=YYYYMMDDnn" at _mta-sts.DOMAIN, and the policy file at https://mta-sts.DOMAIN/.well-known/mta-sts.txt.',
  },
  {
    id: 'TLS_RPT_INVALID',
    title: 'The TLS-RPT record is malformed',
    explanation: 'The TXT record at _smtp._tls is not "v=TLSRPTv1; rua=...", so no sender reports TLS failures to you.',
    fix: 'Publish "v=TLSRPTv1; rua=mailto:tls-reports@DOMAIN" at _smtp._tls.DOMAIN.',
  },
  {
    id: 'BULK_SPF_AND_DKIM',
    title: 'Bulk senders: SPF and DKIM must both pass',
    explanation:
      'Senders of 5,000 or more messages a day to Gmail, Yahoo or Outlook.com must authenticate with both SPF and DKIM; Outlook.com refuses mail that does not with 550 5.7.515.',
    fix: 'Fix the SPF and DKIM findings of `sysemail diagnose sender DOMAIN` until both pass.',
    rule: ALL_THREE,
  },
  {
    id: 'BULK_DMARC',
    title: 'Bulk senders: a DMARC record, at least p=none',
    explanation: 'Bulk senders must publish DMARC for the From domain (p=none is the minimum) and pass it.',
    fix: 'Publish "v=DMARC1; p=none; rua=mailto:ADDR" at _dmarc.DOMAIN, then tighten it as reports allow.',
    rule: ALL_THREE,
  },
  {
    id: 'BULK_FROM_ALIGNED',
    title: 'Bulk senders: the From domain aligned with SPF or DKIM',
    explanation:
      'The domain of the From header must match (at least by organisational domain) the SPF domain or the DKIM d= domain, or DMARC fails even with SPF and DKIM passing.',
    fix: 'Sign with a key of the From domain and allow smtp.host in its SPF record (see the DMARC_NOT_ALIGNED fix).',
    rule: ALL_THREE,
  },
  {
    id: 'BULK_REVERSE_DNS',
    title: 'Valid forward and reverse DNS for the sending IPs',
    explanation:
      'Every sending IP address needs a PTR record whose name resolves back to the same address (forward-confirmed reverse DNS). sysemail checks the addresses of smtp.host; a relay that sends on from other addresses must meet the rule for those.',
    fix: 'Ask whoever runs the server (or its IP range) to publish a PTR record for each address, naming a host whose A/AAAA record is that address.',
    rule: GMAIL_YAHOO,
  },
  {
    id: 'BULK_TLS',
    title: 'TLS for the transmission',
    explanation:
      'Gmail and Yahoo require mail to travel over TLS; sysemail encrypts the hop to smtp.host with smtp.security starttls or tls.',
    fix: 'Use `sysemail params set smtp.security starttls` (port 587) or `tls` (port 465); `none` is meant only for a relay on this machine that then sends on over TLS.',
    rule: GMAIL_YAHOO,
  },
  {
    id: 'BULK_ONE_CLICK_UNSUBSCRIBE',
    title: 'One-click unsubscribe on bulk mail',
    explanation:
      'Marketing and subscribed mail must carry List-Unsubscribe and List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058), covered by the DKIM signature, and unsubscribe requests must be honoured within two days.',
    fix: 'Give every bulk template both headers (List-Unsubscribe with an https: URL, and List-Unsubscribe-Post: List-Unsubscribe=One-Click) and a visible unsubscribe link in the body.',
    rule: `${GMAIL_YAHOO}; Outlook.com recommends it`,
  },
  {
    id: 'BULK_MESSAGE_FORMAT',
    title: 'Messages formatted to RFC 5322',
    explanation:
      'Messages must follow RFC 5322: one From with a valid address, Date, Message-ID. sysemail writes Date and Message-ID itself; the From comes from sender.default or the user.',
    fix: 'Set a valid sender: `sysemail params set sender.default "Name <addr@example.com>"`.',
    rule: GMAIL_YAHOO,
  },
  {
    id: 'BULK_SPAM_RATE',
    title: 'Spam rate under 0.3%',
    explanation:
      'Gmail and Yahoo require the share of messages recipients mark as spam to stay below 0.3% (Google asks for below 0.1%). Only the receivers know it: it cannot be measured from here.',
    fix: "Watch it in Google Postmaster Tools (postmaster.google.com) and Microsoft SNDS (sendersupport.olc.protection.outlook.com/snds), and Yahoo's complaint feedback loop.",
    rule: GMAIL_YAHOO,
  },
];

const BY_ID = new Map(senderFindings.map((f) => [f.id, f]));

export function senderFinding(id: SenderFindingId): SenderFinding {
  const f = BY_ID.get(id);
  if (!f) throw new Error(`internal: no sender finding ${id}`);
  return f;
}

export const SENDER_FINDINGS_START = '<!-- sender-findings:start -->';
export const SENDER_FINDINGS_END = '<!-- sender-findings:end -->';

export function renderSenderFindingsMarkdown(entries: readonly SenderFinding[]): string {
  const lines = [
    SENDER_FINDINGS_START,
    '<!-- generated from src/core/domain/findings.ts by `npm run docs`; edit the list there, not here -->',
    '',
    '| id | finding |',
    '|---|---|',
    ...entries.map((e) => `| [\`${e.id}\`](#${e.id.toLowerCase()}) | ${e.title} |`),
    '',
  ];
  for (const e of entries) {
    lines.push(`#### ${e.id}`, '', `**${e.title}.** ${e.explanation}`, '', `**Fix:** ${e.fix}`, '');
    if (e.rule) lines.push(`**Rule:** ${e.rule}.`, '');
  }
  lines.push(SENDER_FINDINGS_END);
  return lines.join('\n');
}

export function senderFindingsSectionOf(doc: string): string | undefined {
  const start = doc.indexOf(SENDER_FINDINGS_START);
  const end = doc.indexOf(SENDER_FINDINGS_END);
  return start !== -1 && end > start ? doc.slice(start, end + SENDER_FINDINGS_END.length) : undefined;
}

/** The document with its findings section replaced, or a "Sender-domain findings" section appended. */
export function withSenderFindingsSection(doc: string, section: string): string {
  const start = doc.indexOf(SENDER_FINDINGS_START);
  const end = doc.indexOf(SENDER_FINDINGS_END);
  if (start !== -1 && end > start) return doc.slice(0, start) + section + doc.slice(end + SENDER_FINDINGS_END.length);
  const intro =
    '## Sender-domain findings\n\nEvery finding of `sysemail diagnose sender` and `sysemail diagnose --bulk`, named in the ' +
    '`diagnosis` field of its check.\n\n';
  return `${doc.replace(/\s*$/, '\n')}\n${intro}${section}\n`;
}
