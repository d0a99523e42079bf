import { describe, expect, it } from 'vitest';
import { SysemailError } from '../../src/core/errors.js';
import { checkParts, escapeHtml, parseTemplate, parseTemplateData, placeholdersOf, render, renderParts } from '../../src/core/template.js';

describe('placeholders', () => {
  it('lists distinct names in order of first use, ignoring %% literals', () => {
    expect(placeholdersOf('Dear %name%, %doc% is 100%% yours, %name%. %approver.name%')).toEqual(['name', 'doc', 'approver.name']);
  });

  it('reports an unclosed % with its line and column', () => {
    const { errors } = parseTemplate('line one\nsave 50% now');
    expect(errors).toHaveLength(1);
    expect(errors[0].code).toBe('UNBALANCED_PERCENT');
    expect(errors[0].message).toContain('line 2, column 8');
  });

  it('reports text between two % signs that is not a name', () => {
    const { errors } = parseTemplate('50% off and 20% more');
    expect(errors.map((e) => e.code)).toEqual(['BAD_PLACEHOLDER']);
    expect(parseTemplate('50%% off and 20%% more').errors).toEqual([]);
  });
});

describe('render', () => {
  it('fills placeholders, keeps %% as a literal percent and reaches nested data by dotted names', () => {
    const r = render('%greeting% %approver.name%: 100%% of %total%', { greeting: 'Hi', approver: { name: 'Ada' }, total: 42 });
    expect(r).toEqual({ value: 'Hi Ada: 100% of 42', errors: [] });
  });

  it('prefers a key that itself contains a dot over the nested path', () => {
    expect(render('%a.b%', { 'a.b': 'flat', a: { b: 'nested' } }).value).toBe('flat');
  });

  it('names every missing placeholder once, null counting as missing', () => {
    const r = render('%a% %b% %a% %c%', { b: 'x', c: null });
    expect(r.errors.filter((e) => e.code === 'MISSING_VALUE').map((e) => e.name)).toEqual(['a', 'c']);
  });

  it('HTML-escapes values in an HTML body but not in text or the subject', () => {
    const data = { name: `<script>alert("x")</script> & 'co'` };
    expect(render('<p>%name%</p>', data, { html: true }).value).toBe(
      '<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;</p>',
    );
    expect(render('Hi %name%', data).value).toBe(`Hi ${data.name}`);
    expect(render('Re: %name%', data, { subject: true }).value).toBe(`Re: ${data.name}`);
  });

  it('leaves the template markup itself alone in HTML', () => {
    expect(render('<b>%x%</b> &amp;', { x: 'a<b' }, { html: true }).value).toBe('<b>a&lt;b</b> &amp;');
  });

  it('refuses a value that would put a line break into the subject', () => {
    const r = render('Approve %doc%', { doc: 'PO-1\r\nBcc: victim@example.com' }, { subject: true });
    expect(r.errors.map((e) => e.code)).toEqual(['LINE_BREAK_IN_SUBJECT']);
    expect(r.value).not.toContain('Bcc');
    expect(render('%doc%', { doc: 'a\nb' }).errors).toEqual([]);
  });

  it('refuses objects and lists as values', () => {
    expect(render('%x%', { x: { y: 1 } }).errors[0].code).toBe('BAD_VALUE');
    expect(render('%x%', { x: [1] }).errors[0].code).toBe('BAD_VALUE');
  });

  it('escapeHtml escapes the five special characters', () => {
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });
});

describe('renderParts', () => {
  it('collects the missing names of subject and both bodies together', () => {
    const r = renderParts({ subject: '%doc% waits', text: 'Hi %name%, %doc%', html: '<p>%name% %amount%</p>' }, { name: 'Ada' });
    expect(r.missing).toEqual(['doc', 'amount']);
  });

  it('renders only the parts the template has', () => {
    const r = renderParts({ subject: 'S %a%', html: '<i>%a%</i>' }, { a: '<' });
    expect(r.value).toEqual({ subject: 'S <', html: '<i>&lt;</i>' });
  });

  it('checkParts finds syntax problems per part and a line break in the subject', () => {
    const issues = checkParts({ subject: 'a\nb', text: 'ok %x%', html: '<p>50% off</p>' });
    expect(issues.map((i) => [i.part, i.code])).toEqual([
      ['html', 'UNBALANCED_PERCENT'],
      ['subject', 'LINE_BREAK_IN_SUBJECT'],
    ]);
  });
});

describe('parseTemplateData', () => {
  it('accepts a JSON object', () => {
    expect(parseTemplateData('{"a":1}', 'd.json')).toEqual({ a: 1 });
  });

  it.each(['{x', '[1,2]', '"text"', 'null'])('refuses %s as bad data (65)', (text) => {
    let err: unknown;
    try {
      parseTemplateData(text, 'd.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysemailError);
    expect((err as SysemailError).kind).toBe('data');
  });
});
